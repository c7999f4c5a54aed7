package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// secret is a configuration value that must never be printed.
type secret string

func (s secret) String() string {
	if s == "" {
		return ""
	}
	return "****"
}

// LogValue keeps the value out of structured logs.
func (s secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// config is everything the process can be told, from flags and environment.
// Flags win over environment, which wins over the defaults.
type config struct {
	Addr                string
	DataDir             string
	PGBin               string // server binaries of the private Postgres; "" lets pgcluster find them
	DatabaseURL         secret
	KafkaBrokers        []string
	StripeSecretKey     secret
	StripeWebhookSecret secret
	AdminToken          secret
	Roles               roleSet
	LogLevel            slog.Level
	ShutdownTimeout     time.Duration
	ReservationTTL      time.Duration
	OrphanGrace         time.Duration
	Demo                bool
	PprofAddr           string
	// TrustedProxies are the addresses and CIDR ranges of the proxies in
	// front of serve whose X-Forwarded-For names the client.
	TrustedProxies []string
}

// roleSet is the set of roles a serve process plays.
type roleSet map[string]bool

// allRoles lists the roles of `daihuo serve`, all on by default.
func allRoles() []string { return []string{"api", "relay", "live", "settle"} }

func parseRoles(s string) (roleSet, error) {
	set := roleSet{}
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		known := false
		for _, k := range allRoles() {
			known = known || k == r
		}
		if !known {
			return nil, fmt.Errorf("unknown role %q (want some of %s)", r, strings.Join(allRoles(), ","))
		}
		set[r] = true
	}
	if len(set) == 0 {
		return nil, errors.New("no roles given")
	}
	// The api serves the event streams, and only the live role's workers
	// feed them (the live feed), count their viewers (presence) and prune
	// their rooms: an api without them would give its viewers no live
	// events and queue their presence forever. So api implies live, and the
	// logged roles say so.
	if set["api"] {
		set["live"] = true
	}
	return set, nil
}

func (r roleSet) String() string {
	var out []string
	for _, k := range allRoles() {
		if r[k] {
			out = append(out, k)
		}
	}
	return strings.Join(out, ",")
}

// env returns the environment variable's value or def.
func env(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// loadConfig reads the environment, then the flags of fs from args.
func loadConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (config, error) {
	var (
		c        config
		roles    string
		logLevel string
		brokers  string
		proxies  string
	)
	fs.StringVar(&c.Addr, "addr", env(getenv, "DAIHUO_ADDR", "127.0.0.1:8080"), "HTTP listen address (DAIHUO_ADDR)")
	fs.StringVar(&c.DataDir, "data-dir", env(getenv, "DAIHUO_DATA_DIR", ".data"), "folder of the private Postgres and embedded broker (DAIHUO_DATA_DIR)")
	fs.StringVar(&c.PGBin, "pg-bin", getenv("DAIHUO_PG_BIN"), "PostgreSQL server binaries of the private cluster; empty: 15's, else the newest 15+ installed (DAIHUO_PG_BIN)")
	fs.StringVar(&roles, "roles", env(getenv, "DAIHUO_ROLES", strings.Join(allRoles(), ",")), "roles this process plays: api,relay,live,settle; api implies live (DAIHUO_ROLES)")
	fs.StringVar(&logLevel, "log-level", env(getenv, "DAIHUO_LOG_LEVEL", "info"), "debug, info, warn or error (DAIHUO_LOG_LEVEL)")
	fs.StringVar(&brokers, "kafka-brokers", getenv("KAFKA_BROKERS"), "comma-separated Kafka brokers; empty starts an embedded broker (KAFKA_BROKERS)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long a shutdown may drain in-flight work")
	ttl := 10 * time.Minute
	if v := getenv("DAIHUO_RESERVATION_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("DAIHUO_RESERVATION_TTL: want a positive duration such as 10m, got %q", v)
		}
		ttl = d
	}
	fs.DurationVar(&c.ReservationTTL, "reservation-ttl", ttl, "how long an unpaid order holds its stock (DAIHUO_RESERVATION_TTL)")
	fs.DurationVar(&c.OrphanGrace, "orphan-grace", time.Minute, "how long after its expiry a reservation whose order was never written (a crash mid-checkout) gives its stock back")
	fs.StringVar(&c.PprofAddr, "pprof-addr", getenv("DAIHUO_PPROF_ADDR"), "serve net/http/pprof on this address, e.g. 127.0.0.1:6060; off when empty (DAIHUO_PPROF_ADDR)")
	fs.StringVar(&proxies, "trusted-proxies", getenv("DAIHUO_TRUSTED_PROXIES"), "comma-separated addresses or CIDR ranges of the proxies in front whose X-Forwarded-For is believed; empty believes none (DAIHUO_TRUSTED_PROXIES)")
	fs.BoolVar(&c.Demo, "demo", false, "seed demo data at start and print the tokens to try it")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.DatabaseURL = secret(getenv("DATABASE_URL"))
	c.StripeSecretKey = secret(getenv("STRIPE_SECRET_KEY"))
	c.StripeWebhookSecret = secret(getenv("STRIPE_WEBHOOK_SECRET"))
	c.AdminToken = secret(getenv("DAIHUO_ADMIN_TOKEN"))
	// Stripe takes both its secrets. One without the other is a deployment
	// that lost a variable: it would otherwise run the local simulator,
	// whose test cards pay any order.
	switch {
	case c.StripeSecretKey != "" && c.StripeWebhookSecret == "":
		return c, errors.New("STRIPE_SECRET_KEY needs STRIPE_WEBHOOK_SECRET, the signing secret of the /v1/webhooks/stripe endpoint")
	case c.StripeSecretKey == "" && c.StripeWebhookSecret != "":
		return c, errors.New("STRIPE_WEBHOOK_SECRET is set without STRIPE_SECRET_KEY: set both to take payments through Stripe, or neither for the local simulator")
	}
	for name, d := range map[string]time.Duration{"--shutdown-timeout": c.ShutdownTimeout, "--reservation-ttl": c.ReservationTTL, "--orphan-grace": c.OrphanGrace} {
		if d <= 0 {
			return c, fmt.Errorf("%s: want a positive duration such as 10s, got %s", name, d)
		}
	}
	for _, b := range strings.Split(brokers, ",") {
		if b = strings.TrimSpace(b); b == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			return c, fmt.Errorf("kafka brokers: %q is not host:port", b)
		} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return c, fmt.Errorf("kafka brokers: %q has no valid port", b)
		}
		c.KafkaBrokers = append(c.KafkaBrokers, b)
	}
	for _, p := range strings.Split(proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				return c, fmt.Errorf("trusted proxies: %q is neither an address nor a CIDR range", p)
			}
		}
		c.TrustedProxies = append(c.TrustedProxies, p)
	}
	var err error
	if c.Roles, err = parseRoles(roles); err != nil {
		return c, err
	}
	if err := c.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return c, fmt.Errorf("log level: %w", err)
	}
	if c.DataDir, err = filepath.Abs(c.DataDir); err != nil {
		return c, fmt.Errorf("data dir: %w", err)
	}
	return c, nil
}

// LogValue lists the configuration with its secrets masked.
func (c config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("data_dir", c.DataDir),
		slog.String("pg_bin", c.PGBin),
		slog.Any("database_url", maskURL(string(c.DatabaseURL))),
		slog.Any("kafka_brokers", c.KafkaBrokers),
		slog.Any("stripe_secret_key", c.StripeSecretKey),
		slog.Any("stripe_webhook_secret", c.StripeWebhookSecret),
		slog.Any("admin_token", c.AdminToken),
		slog.String("roles", c.Roles.String()),
		slog.Duration("reservation_ttl", c.ReservationTTL),
		slog.String("log_level", c.LogLevel.String()),
		slog.Any("trusted_proxies", c.TrustedProxies),
	)
}

// maskURL hides the passwords of a connection URL, keeping where it points:
// the one in the user info and the password and sslpassword query
// parameters. Anything it cannot read as a URL, such as a key=value DSN,
// is hidden whole.
func maskURL(s string) string {
	if s == "" {
		return "(private postgres under data dir)"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return "****"
	}
	if u.User == nil && strings.Contains(s, "@") {
		// User info the parser did not see as such, as in an unescaped
		// password holding a / or #: its password would show in the host.
		return "****"
	}
	u.RawQuery = maskQuery(u.RawQuery)
	if u.Fragment != "" {
		u.Fragment, u.RawFragment = "****", "" // no driver reads it; nothing to show
	}
	if u.User == nil {
		return u.String()
	}
	// url.URL would escape the mask's stars: write the user info by hand.
	user := url.User(u.User.Username()).String()
	if p, ok := u.User.Password(); ok && p != "" {
		user += ":****"
	} else if ok {
		user += ":"
	}
	u.User = nil
	out, prefix := u.String(), u.Scheme+"://"
	if !strings.HasPrefix(out, prefix) {
		return "****"
	}
	return prefix + user + "@" + out[len(prefix):]
}

// maskQuery hides the values of the secret parameters of a raw query,
// keeping the others as written. Both & and ; count as separators, so a
// secret behind a ; is not taken for part of the value before it.
func maskQuery(raw string) string {
	var b strings.Builder
	for raw != "" {
		part, sep := raw, ""
		if i := strings.IndexAny(raw, "&;"); i >= 0 {
			part, sep, raw = raw[:i], raw[i:i+1], raw[i+1:]
		} else {
			raw = ""
		}
		key, _, _ := strings.Cut(part, "=")
		if k, err := url.QueryUnescape(key); err != nil {
			part = "****" // an unreadable key could be anything
		} else if secretParam(k) {
			part = key + "=****"
		}
		b.WriteString(part)
		b.WriteString(sep)
	}
	return b.String()
}

// secretParam reports whether a connection parameter holds a secret.
func secretParam(key string) bool {
	key = strings.ToLower(strings.TrimSpace(key))
	return key == "password" || key == "sslpassword"
}

func newLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
