// Command ferretdb-edp serves the MongoDB wire protocol on loopback with FerretDB v1 embedded,
// storing data in SQLite, so the project needs neither MongoDB nor PostgreSQL locally.
//
// FerretDB's own command cannot be built with `go install` (it panics on a version file that
// only its release build writes), hence this small program around the embeddable package.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dataDir := flag.String("data", ".local/ferretdb", "directory for the SQLite databases")
	debug := flag.Bool("debug", false, "log every command")
	flag.Parse()

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if err := run(*listen, *dataDir, logger); err != nil {
		logger.Error("ferretdb-edp failed", "error", err)
		os.Exit(1)
	}
}

// gcPercent is Go's GOGC for this process unless the environment sets one. FerretDB allocates
// a few documents' worth per row it converts (BSON to SQLite's JSON and back); at Go's default
// of 100 the collector took a fifth of its CPU on the attempt log's inserts (63 against 78 us
// per row at 400, measured with 3 indexes; the heap stays under a few hundred MB).
const gcPercent = 400

func run(listen, dataDir string, logger *slog.Logger) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if err = os.MkdirAll(abs, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}

	// FerretDB's SQLite URI names a directory (one file per database) and must end with a slash.
	// WAL with synchronous=NORMAL: a commit no longer waits for an fsync of the WAL (the
	// checkpoint still syncs). A crash of FerretDB loses nothing; a power cut may lose the last
	// commits. That is the right trade for a local MongoDB stand-in whose hottest writer is the
	// attempt log: with FULL, inserts were bound by fsync (954 rows/s with the attempts' indexes).
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)",
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	logger.Info("ferretdb-edp listening", "addr", listen, "data", abs)
	return f.Run(ctx)
}
