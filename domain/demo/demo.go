// Package demo seeds a small, realistic world to try daihuo with: two brands
// with catalogs in EUR and JPY, an agency with two creators, a shopper, and a
// fresh token for each of them. It goes through the party and catalog
// services like any client would, never around them.
package demo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/daihuo/daihuo/domain/catalog"
	"github.com/daihuo/daihuo/domain/errs"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/money"
	"github.com/daihuo/daihuo/domain/page"
	"github.com/daihuo/daihuo/domain/party"
)

// Transactor runs fn in one database transaction, so a seed is all or nothing.
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// The fixed names and handles the seed recognises on a second run.
const (
	BrandLumiere   = "Maison Lumière"
	BrandKumo      = "Kumo Kitchen"
	AgencyName     = "Starlight Talent"
	CreatorMia     = "mia.live"
	CreatorKenji   = "kenji_cooks"
	ShopperEmail   = "demo.shopper@example.com"
	shopperDisplay = "Demo Shopper"
)

// BrandSeed is a seeded brand, a new token for it and its products.
type BrandSeed struct {
	Brand    party.Brand
	Token    string
	Products []catalog.Product
}

// CreatorSeed is a seeded creator and a new token for it.
type CreatorSeed struct {
	Creator party.Creator
	Token   string
}

// Result is what Seed made or found, with a new token for every party. The
// tokens are plaintext, shown once: print them and keep them.
type Result struct {
	AdminToken   string
	Brands       []BrandSeed
	Agency       party.Agency
	AgencyToken  string
	Creators     []CreatorSeed
	Shopper      party.Shopper
	ShopperToken string
	Show         Show
}

type brandData struct {
	name     string
	products []catalog.NewProduct
}

func eur(cents int64) money.Money { return money.Money{Amount: cents, Currency: "EUR"} }
func jpy(yen int64) money.Money   { return money.Money{Amount: yen, Currency: "JPY"} }

// brands returns the demo catalogs: a Paris accessories and beauty house
// priced in euros and a Kyoto kitchenware maker priced in yen.
func brands() []brandData {
	v := func(sku, title string, price money.Money, stock int64) catalog.NewVariant {
		return catalog.NewVariant{SKU: sku, Title: title, Price: price, Stock: stock}
	}
	return []brandData{
		{name: BrandLumiere, products: []catalog.NewProduct{
			{
				Title:       "Silk Twill Scarf 90 × 90",
				Description: "Pure mulberry silk twill with hand-rolled edges, printed in Lyon.",
				Variants: []catalog.NewVariant{
					v("MLU-SCARF-IVORY", "Ivory", eur(8900), 40),
					v("MLU-SCARF-BORDEAUX", "Bordeaux", eur(8900), 25),
					v("MLU-SCARF-NAVY", "Navy", eur(8900), 30),
				},
			},
			{
				Title:       "Rose Hydrating Serum",
				Description: "Damask rose water and hyaluronic acid for a dewy, plumped skin.",
				Variants: []catalog.NewVariant{
					v("MLU-SERUM-30", "30 ml", eur(4500), 120),
					v("MLU-SERUM-50", "50 ml", eur(6900), 80),
				},
			},
			{
				Title:       "Velvet Matte Lipstick",
				Description: "Weightless matte finish that lasts through a whole live show.",
				Variants: []catalog.NewVariant{
					v("MLU-LIP-ROUGE", "Rouge Classique", eur(2900), 200),
					v("MLU-LIP-NUDE", "Nude Rosé", eur(2900), 150),
					v("MLU-LIP-PRUNE", "Prune", eur(2900), 90),
				},
			},
			{
				Title:       "Washed Linen Tote",
				Description: "Heavy French linen, inside pocket, fits a laptop.",
				Variants: []catalog.NewVariant{
					v("MLU-TOTE-NATURAL", "Natural", eur(3500), 60),
					v("MLU-TOTE-BLACK", "Black", eur(3500), 60),
				},
			},
			{
				Title:       "Cashmere Rib Beanie",
				Description: "Grade-A Mongolian cashmere, double-layered cuff.",
				Variants: []catalog.NewVariant{
					v("MLU-BEANIE-GREY", "Heather Grey", eur(5900), 35),
					v("MLU-BEANIE-CAMEL", "Camel", eur(5900), 20),
				},
			},
		}},
		{name: BrandKumo, products: []catalog.NewProduct{
			{
				Title:       "Hand-forged Santoku Knife 165 mm",
				Description: "Aogami #2 steel clad in stainless, magnolia handle. Forged in Sakai.",
				Variants: []catalog.NewVariant{
					v("KUMO-SANTOKU-165", "Knife only", jpy(18000), 15),
					v("KUMO-SANTOKU-165-SAYA", "With magnolia saya", jpy(21500), 8),
				},
			},
			{
				Title:       "Iga Donabe Rice Pot",
				Description: "Double-lid clay pot from Iga for glossy rice on any gas stove.",
				Variants: []catalog.NewVariant{
					v("KUMO-DONABE-3GO", "3 gō (2–3 people)", jpy(12800), 12),
					v("KUMO-DONABE-5GO", "5 gō (4–5 people)", jpy(15800), 10),
				},
			},
			{
				Title:       "Uji Matcha Starter Set",
				Description: "Bamboo whisk, scoop, chawan and 40 g of first-harvest Uji matcha.",
				Variants: []catalog.NewVariant{
					v("KUMO-MATCHA-STD", "Standard grade", jpy(6480), 50),
					v("KUMO-MATCHA-CER", "Ceremonial grade", jpy(9800), 30),
				},
			},
			{
				Title:       "Hinoki Cutting Board",
				Description: "Kiso hinoki cypress: gentle on blades, naturally antibacterial.",
				Variants: []catalog.NewVariant{
					v("KUMO-HINOKI-S", "S · 30 × 20 cm", jpy(4200), 40),
					v("KUMO-HINOKI-M", "M · 39 × 24 cm", jpy(6600), 30),
					v("KUMO-HINOKI-L", "L · 45 × 27 cm", jpy(9200), 15),
				},
			},
			{
				Title:       "Tenugui Hand Towel Set",
				Description: "Three chusen-dyed cotton tenugui from Hamamatsu.",
				Variants: []catalog.NewVariant{
					v("KUMO-TENUGUI-WAVE", "Seigaiha waves", jpy(1980), 100),
					v("KUMO-TENUGUI-SAKURA", "Sakura", jpy(1980), 100),
				},
			},
		}},
	}
}

// Services are what Seed goes through, as any client would.
type Services struct {
	Parties *party.Service
	Catalog *catalog.Service
	Live    *live.Service
	// Now is the services' clock; it dates the flash sale.
	Now func() time.Time
}

// Seed creates the demo world, or finds it when a previous run made it, in
// one transaction: brands and the agency are recognised by name, creators
// by handle, the shopper by email, products by SKU and the show by its host
// and title while it is on air, so running it again duplicates nothing; it
// only pins a new flash sale when the last one ended or sold out. Every run
// issues new tokens (old ones stay valid).
func Seed(ctx context.Context, tx Transactor, svc Services) (Result, error) {
	var res Result
	err := tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if res, err = seed(ctx, svc.Parties, svc.Catalog); err != nil {
			return err
		}
		res.Show, err = seedShow(ctx, svc.Live, svc.Now().UTC(), res.Creators[0].Creator, res.Brands[0])
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("seed demo: %w", err)
	}
	return res, nil
}

func seed(ctx context.Context, parties *party.Service, cat *catalog.Service) (Result, error) {
	admin := party.Principal{Role: party.RoleAdmin}
	var res Result
	tok, err := parties.CreateToken(ctx, admin, party.RoleAdmin, "")
	if err != nil {
		return res, err
	}
	res.AdminToken = tok.Token

	for _, bd := range brands() {
		b, err := parties.FindBrandByName(ctx, admin, bd.name)
		if errors.Is(err, errs.ErrNotFound) {
			b, err = parties.CreateBrand(ctx, admin, bd.name)
		}
		if err != nil {
			return res, fmt.Errorf("brand %s: %w", bd.name, err)
		}
		tok, err := parties.CreateToken(ctx, admin, party.RoleBrand, b.ID)
		if err != nil {
			return res, err
		}
		as := party.Principal{Role: party.RoleBrand, PartyID: b.ID}
		for _, np := range bd.products {
			if _, err := cat.CreateProduct(ctx, as, np); err != nil && !errors.Is(err, catalog.ErrSKUTaken) {
				return res, fmt.Errorf("product %s: %w", np.Title, err)
			}
		}
		products, err := allProducts(ctx, cat, as)
		if err != nil {
			return res, err
		}
		// Show the products in the order of the seed data rather than by id,
		// which does not order products created in the same millisecond.
		order := make(map[string]int, len(bd.products))
		for i, np := range bd.products {
			order[np.Variants[0].SKU] = i + 1
		}
		slices.SortStableFunc(products, func(a, b catalog.Product) int {
			return cmp.Compare(rank(order, a), rank(order, b))
		})
		res.Brands = append(res.Brands, BrandSeed{Brand: b, Token: tok.Token, Products: products})
	}

	ag, err := parties.FindAgencyByName(ctx, admin, AgencyName)
	if errors.Is(err, errs.ErrNotFound) {
		ag, err = parties.CreateAgency(ctx, admin, AgencyName)
	}
	if err != nil {
		return res, fmt.Errorf("agency: %w", err)
	}
	res.Agency = ag
	if tok, err = parties.CreateToken(ctx, admin, party.RoleAgency, ag.ID); err != nil {
		return res, err
	}
	res.AgencyToken = tok.Token

	// The agency signs up its own creators and issues their tokens, as it
	// would through the api.
	asAgency := party.Principal{Role: party.RoleAgency, PartyID: ag.ID}
	for _, c := range []party.NewCreator{
		{Handle: CreatorMia, DisplayName: "Mia Chen"},
		{Handle: CreatorKenji, DisplayName: "Kenji Sato"},
	} {
		cr, err := parties.FindCreatorByHandle(ctx, admin, c.Handle)
		if errors.Is(err, errs.ErrNotFound) {
			cr, err = parties.CreateCreator(ctx, asAgency, c)
		}
		if err != nil {
			return res, fmt.Errorf("creator %s: %w", c.Handle, err)
		}
		issuer := asAgency
		if cr.AgencyID != ag.ID {
			issuer = admin // the handle was taken outside the demo agency
		}
		tok, err := parties.CreateToken(ctx, issuer, party.RoleCreator, cr.ID)
		if err != nil {
			return res, err
		}
		res.Creators = append(res.Creators, CreatorSeed{Creator: cr, Token: tok.Token})
	}

	sh, err := parties.FindShopperByEmail(ctx, admin, ShopperEmail)
	switch {
	case errors.Is(err, errs.ErrNotFound):
		sh, tok, err = parties.CreateShopper(ctx, party.Principal{}, party.NewShopper{DisplayName: shopperDisplay, Email: ShopperEmail})
	case err == nil:
		tok, err = parties.CreateToken(ctx, admin, party.RoleShopper, sh.ID)
	}
	if err != nil {
		return res, fmt.Errorf("shopper: %w", err)
	}
	res.Shopper, res.ShopperToken = sh, tok.Token
	return res, nil
}

// rank is the position of p in the seed data, after it for other products.
func rank(order map[string]int, p catalog.Product) int {
	if len(p.Variants) > 0 {
		if i, ok := order[p.Variants[0].SKU]; ok {
			return i
		}
	}
	return len(order) + 1
}

// allProducts pages through every product of the brand p acts for.
func allProducts(ctx context.Context, cat *catalog.Service, p party.Principal) ([]catalog.Product, error) {
	var out []catalog.Product
	req := catalog.Page{Limit: page.MaxLimit}
	for {
		pg, err := cat.ListProducts(ctx, p, req)
		if err != nil {
			return nil, err
		}
		out = append(out, pg.Items...)
		if pg.NextCursor == "" {
			return out, nil
		}
		req.Cursor = pg.NextCursor
	}
}

// Print writes the seeded parties, their tokens, the products and the live
// show for people; base is the server's URL, such as http://127.0.0.1:8080.
func (r Result) Print(w io.Writer, base string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ROLE\tPARTY\tNAME\tTOKEN\n")
	fmt.Fprintf(tw, "admin\t-\tplatform\t%s\n", r.AdminToken)
	for _, b := range r.Brands {
		fmt.Fprintf(tw, "brand\t%s\t%s\t%s\n", b.Brand.ID, b.Brand.Name, b.Token)
	}
	fmt.Fprintf(tw, "agency\t%s\t%s\t%s\n", r.Agency.ID, r.Agency.Name, r.AgencyToken)
	for _, c := range r.Creators {
		fmt.Fprintf(tw, "creator\t%s\t@%s (%s)\t%s\n", c.Creator.ID, c.Creator.Handle, c.Creator.DisplayName, c.Token)
	}
	fmt.Fprintf(tw, "shopper\t%s\t%s\t%s\n", r.Shopper.ID, r.Shopper.DisplayName, r.ShopperToken)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, b := range r.Brands {
		fmt.Fprintf(w, "\n%s\n", b.Brand.Name)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, p := range b.Products {
			fmt.Fprintf(tw, "  %s\t%s\t\t\t\n", p.ID, p.Title)
			for _, v := range p.Variants {
				fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\tstock %d\n", v.ID, v.SKU, v.Title, v.Price, v.StockAvailable)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return r.Show.print(w, base)
}
