package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/daihuo/daihuo/domain/catalog"
	demodata "github.com/daihuo/daihuo/domain/demo"
	"github.com/daihuo/daihuo/domain/live"
	"github.com/daihuo/daihuo/domain/party"
	"github.com/daihuo/daihuo/storage"
)

// services are the domain services of the process, on one database.
type services struct {
	tx      *storage.Transactor
	outbox  *storage.Outbox
	parties *party.Service
	catalog *catalog.Service
	live    *live.Service
	room    *live.Room
}

func newServices(db *database) services {
	now := func() time.Time { return time.Now().UTC() }
	tx := storage.NewTransactor(db.db)
	partyStore := storage.NewPartyStore(db.db)
	outbox := storage.NewOutbox(db.db, db.dsn)
	catalogStore := storage.NewCatalogStore(db.db, outbox)
	liveStore := storage.NewLiveStore(db.db)
	return services{
		tx:      tx,
		outbox:  outbox,
		parties: party.NewService(partyStore, storage.NewTokenStore(db.db), tx, now),
		catalog: catalog.NewService(catalogStore, now),
		live:    live.NewService(liveStore, partyStore, catalogStore, outbox, tx, now),
		room:    live.NewRoom(liveStore, storage.NewRoomStore(db.db), partyStore, outbox, tx, now, live.RoomOptions{BlockedWords: blockedWords()}),
	}
}

// blockedWords is the default chat blocklist: words used to lure viewers
// off the platform or to scam them.
func blockedWords() []string {
	return []string{"scam", "whatsapp", "telegram", "wechat", "paypal.me", "giftcard", "crypto"}
}

// operator is the principal of someone running commands on the server.
func operator() party.Principal { return party.Principal{Role: party.RoleAdmin} }

// tokenCommand mints a token: `daihuo token create --role R [--party ID]`.
func tokenCommand(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, stdout io.Writer) error {
	const use = "usage: daihuo token create --role admin|brand|agency|creator|shopper [--party ID]"
	if len(args) == 0 || isHelp(args[0]) {
		return usageOf(stdout, args, use)
	}
	if args[0] != "create" {
		return errors.New(use)
	}
	var role, partyID string
	fs.StringVar(&role, "role", "", "role of the token: admin, brand, agency, creator or shopper")
	fs.StringVar(&partyID, "party", "", "id of the party the token acts for (not for admin)")
	c, err := loadConfig(fs, args[1:], getenv)
	if err != nil {
		return err
	}
	if !party.Role(role).Valid() {
		return fmt.Errorf("--role must be one of admin, brand, agency, creator, shopper; got %q", role)
	}
	db, err := openDatabase(ctx, c, newLogger(c.LogLevel), dbUse{migrate: true})
	if err != nil {
		return err
	}
	defer db.close(context.WithoutCancel(ctx))
	tok, err := newServices(db).parties.CreateToken(ctx, operator(), party.Role(role), partyID)
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	fmt.Fprintln(stdout, tok.Token)
	return nil
}

// demo seeds the demo data and prints the tokens to try every role.
func demo(ctx context.Context, c config, stdout io.Writer) error {
	db, err := openDatabase(ctx, c, newLogger(c.LogLevel), dbUse{migrate: true})
	if err != nil {
		return err
	}
	defer db.close(context.WithoutCancel(ctx))
	res, err := seedDemo(ctx, newServices(db))
	if err != nil {
		return err
	}
	return res.Print(stdout, "http://"+c.Addr)
}

// seedDemo seeds the demo world, its live show included, through s.
func seedDemo(ctx context.Context, s services) (demodata.Result, error) {
	res, err := demodata.Seed(ctx, s.tx, demodata.Services{Parties: s.parties, Catalog: s.catalog, Live: s.live, Now: time.Now})
	if err != nil {
		return demodata.Result{}, fmt.Errorf("seed demo data: %w", err)
	}
	return res, nil
}
