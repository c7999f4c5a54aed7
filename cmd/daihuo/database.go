package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"gorm.io/gorm"

	"github.com/daihuo/daihuo/storage"
	"github.com/daihuo/daihuo/storage/pgcluster"
)

// database is the opened, migrated database and how to release it.
type database struct {
	db       *gorm.DB
	dsn      string
	migrator *storage.Migrator
	close    func(context.Context)
}

// dbUse says what a command does with the database.
type dbUse struct {
	migrate bool // apply pending migrations
	// owner stops the private cluster on close even when it was already
	// running (left by a killed serve); a one-shot command run beside a
	// serving process must leave that process's server alone.
	owner bool
}

// openDatabase connects to DATABASE_URL or, when it is unset, starts the
// private cluster under the data dir (or joins it when it runs already).
func openDatabase(ctx context.Context, c config, log *slog.Logger, use dbUse) (*database, error) {
	dsn := string(c.DatabaseURL)
	stop := func(context.Context) {}
	if dsn == "" {
		dir := filepath.Join(c.DataDir, "postgres")
		cluster, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir, BinDir: c.PGBin})
		if err != nil {
			return nil, fmt.Errorf("private postgres: %w", err)
		}
		stop = func(ctx context.Context) {
			// Serve owns the cluster (it holds the data dir's lock); a
			// command leaves one it found running, or a serve that started
			// meanwhile, alone.
			if !use.owner && (cluster.Adopted() || dataDirServed(c.DataDir)) {
				return
			}
			// Even when ctx ended (Ctrl-C during migrations): the server
			// must not outlive the process that started it.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := cluster.Stop(ctx); err != nil {
				log.Error("stop private postgres", "err", err)
			}
		}
		if err := cluster.CreateDatabase(ctx, "daihuo", ""); err != nil {
			stop(ctx)
			return nil, err
		}
		dsn = cluster.DSN("daihuo")
		if cluster.Adopted() {
			log.Info("private postgres already running; joined it", "dir", dir, "port", cluster.Port())
		} else {
			log.Info("private postgres started", "dir", dir, "port", cluster.Port())
		}
	}
	db, err := storage.Open(ctx, dsn)
	if err != nil {
		stop(ctx)
		return nil, err
	}
	m, err := storage.NewMigrator(storage.SQL(db))
	if err == nil && use.migrate {
		var n int
		if n, err = m.Up(ctx); err == nil && n > 0 {
			log.Info("migrations applied", "count", n)
		}
	}
	if err != nil {
		storage.Close(db)
		stop(ctx)
		return nil, err
	}
	return &database{db: db, dsn: dsn, migrator: m, close: func(ctx context.Context) {
		storage.Close(db)
		stop(ctx)
	}}, nil
}
