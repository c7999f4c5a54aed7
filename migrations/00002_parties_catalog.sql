-- +goose Up
-- Parties: who sells, who hosts, who manages hosts, who buys. Primary keys
-- are the prefixed, time-ordered ids of domain/id (brd_…, agy_…, crt_…, shp_…).
CREATE TABLE brands (
    id         text        PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX brands_name ON brands (name, id);

CREATE TABLE agencies (
    id         text        PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX agencies_name ON agencies (name, id);

CREATE TABLE creators (
    id           text        PRIMARY KEY,
    handle       text        NOT NULL CONSTRAINT creators_handle_key UNIQUE
                             CHECK (handle ~ '^[a-z0-9_.]{2,32}$'),
    display_name text        NOT NULL,
    agency_id    text        REFERENCES agencies (id),
    created_at   timestamptz NOT NULL
);
CREATE INDEX creators_agency ON creators (agency_id, id) WHERE agency_id IS NOT NULL;

CREATE TABLE shoppers (
    id           text        PRIMARY KEY,
    display_name text        NOT NULL,
    email        text,
    created_at   timestamptz NOT NULL
);
CREATE INDEX shoppers_email ON shoppers (lower(email), id) WHERE email IS NOT NULL;

-- Bearer tokens, kept only as the SHA-256 of their plaintext. Admin tokens act
-- for no party; every other role acts for exactly one.
CREATE TABLE tokens (
    id           text        PRIMARY KEY,
    hash         bytea       NOT NULL CONSTRAINT tokens_hash_key UNIQUE CHECK (length(hash) = 32),
    role         text        NOT NULL CHECK (role IN ('admin', 'brand', 'agency', 'creator', 'shopper')),
    party_id     text,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    last_used_at timestamptz,
    CHECK ((role = 'admin') = (party_id IS NULL))
);
CREATE INDEX tokens_party ON tokens (party_id) WHERE party_id IS NOT NULL;

-- The catalog. (brand_id, id) is unique so that variants can reference their
-- product and its brand together, which keeps variants.brand_id (denormalised
-- for the per-brand SKU uniqueness and for tenancy checks in one statement)
-- always equal to the product's brand. It also serves a brand's product list.
CREATE TABLE products (
    id          text        PRIMARY KEY,
    brand_id    text        NOT NULL REFERENCES brands (id),
    title       text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    image_url   text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT products_brand_id_id_key UNIQUE (brand_id, id)
);

CREATE TABLE variants (
    id              text        PRIMARY KEY,
    product_id      text        NOT NULL,
    brand_id        text        NOT NULL,
    position        integer     NOT NULL,
    sku             text        NOT NULL,
    title           text        NOT NULL,
    price_amount    bigint      NOT NULL CHECK (price_amount > 0),
    price_currency  char(3)     NOT NULL CHECK (price_currency ~ '^[A-Z]{3}$'),
    stock_available bigint      NOT NULL CHECK (stock_available >= 0),
    created_at      timestamptz NOT NULL,
    FOREIGN KEY (brand_id, product_id) REFERENCES products (brand_id, id),
    CONSTRAINT variants_brand_sku_key UNIQUE (brand_id, sku)
);
CREATE INDEX variants_product ON variants (product_id, position);

-- +goose Down
DROP TABLE variants;
DROP TABLE products;
DROP TABLE tokens;
DROP TABLE shoppers;
DROP TABLE creators;
DROP TABLE agencies;
DROP TABLE brands;
