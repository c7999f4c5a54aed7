// Command daihuo is the live-commerce service: `daihuo serve` runs it, and the
// other subcommands migrate the database, mint tokens and seed demo data.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: daihuo <command> [flags]

commands:
  serve [--roles api,relay,live,settle] [--addr host:port] [--demo]
                         run the service (all roles by default)
  migrate up|status      apply pending migrations, or list them
  token create --role R [--party ID]
                         mint an API token and print it once
  demo                   seed demo data and print tokens to try each role
  bench fanout|flashsale|all
                         benchmark programs, each against a naive baseline

Configuration comes from flags and the environment: DATABASE_URL, KAFKA_BROKERS,
STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, DAIHUO_ADMIN_TOKEN, DAIHUO_ADDR,
DAIHUO_DATA_DIR, DAIHUO_ROLES, DAIHUO_LOG_LEVEL, DAIHUO_RESERVATION_TTL,
DAIHUO_TRUSTED_PROXIES, DAIHUO_PPROF_ADDR, DAIHUO_PG_BIN. Run "daihuo <command> -h"
for flags.
`

func main() {
	ctx, stop := signalContext()
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) { // help was asked for, and given
			return
		}
		fmt.Fprintln(os.Stderr, "daihuo:", err)
		stop()
		os.Exit(1)
	}
}

// signalContext returns a context cancelled by the first SIGINT or SIGTERM,
// which starts an orderly shutdown; a second one stops the process at once
// (exit status 128 + the signal), for a shutdown that hangs.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		// Caught explicitly: a process started with interrupts ignored (in
		// the background of a script) would go back to ignoring them.
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		stop()
		if sig, ok := (<-again).(syscall.Signal); ok {
			os.Exit(128 + int(sig))
		}
		os.Exit(1)
	}()
	return ctx, stop
}

// run executes one subcommand; ctx is cancelled on SIGINT or SIGTERM.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	fs := flag.NewFlagSet("daihuo "+cmd, flag.ContinueOnError)
	switch cmd {
	case "serve":
		c, err := loadConfig(fs, rest, getenv)
		if err != nil {
			return err
		}
		return serve(ctx, c, getenv, stdout)
	case "migrate":
		if len(rest) == 0 || isHelp(rest[0]) {
			return usageOf(stdout, rest, "usage: daihuo migrate up|status [flags]\n  up      apply the pending migrations\n  status  list the migrations and whether each is applied")
		}
		c, err := loadConfig(fs, rest[1:], getenv)
		if err != nil {
			return err
		}
		return migrate(ctx, c, rest[0], stdout)
	case "token":
		return tokenCommand(ctx, fs, rest, getenv, stdout)
	case "demo":
		c, err := loadConfig(fs, rest, getenv)
		if err != nil {
			return err
		}
		return demo(ctx, c, stdout)
	case "bench":
		if len(rest) == 0 || isHelp(rest[0]) {
			return usageOf(stdout, rest, "usage: daihuo bench fanout|flashsale|all [flags]\n  each starts its own server; \"daihuo bench fanout -h\" lists a benchmark's flags")
		}
		return bench(ctx, rest, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stdout, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// usageOf answers a command given no subcommand, or asked for help (the
// first of rest): text on stdout, and flag.ErrHelp, which main takes for
// success, or for nothing at all an error naming the usage.
func usageOf(stdout io.Writer, rest []string, text string) error {
	if len(rest) == 0 {
		return errors.New(text)
	}
	fmt.Fprintln(stdout, text)
	return flag.ErrHelp
}

func migrate(ctx context.Context, c config, sub string, stdout io.Writer) error {
	if sub != "up" && sub != "status" {
		return errors.New("usage: daihuo migrate up|status [flags]")
	}
	log := newLogger(c.LogLevel)
	db, err := openDatabase(ctx, c, log, dbUse{})
	if err != nil {
		return err
	}
	defer db.close(context.WithoutCancel(ctx))
	if sub == "status" {
		return db.migrator.Status(ctx, stdout)
	}
	n, err := db.migrator.Up(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migrations\n", n)
	return nil
}
