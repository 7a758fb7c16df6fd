// Command gatehouse is the portal through which staff reach customer data
// within the access policy, and the tools that operate it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// The first Ctrl-C or SIGTERM shuts down gracefully and exits 0; once
	// it has arrived the signals act as usual again, so a second Ctrl-C
	// ends a shutdown that hangs.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  gatehouse serve [--dev]         start the portal (--dev: embedded SQLite, demo data, built-in identity provider)
  gatehouse migrate [--dev]       apply database migrations and exit (--dev: and add the demo data)
  gatehouse staff add EMAIL --name NAME --tier TIER [--agreement VERSION] [--trained DATE]
  gatehouse staff offboard EMAIL [--reason TEXT]
  gatehouse audit verify [--dev] [--checkpoint FILE | --since-checkpoint FILE] [--public-key BASE64]
                                  walk the audit chain (and hold it against the stream FILE's last
                                  checkpoint and every event; --since-checkpoint: walk only what came
                                  after a signed checkpoint you trust); exit non-zero naming the first broken seq
  gatehouse audit export --format csv|jsonl [--workspace SLUG] [--since TIME] [--dev]
                                  write the audit log to stdout (the export is itself audited)
  gatehouse audit partitions [--dev]
                                  list the audit log's monthly partitions (PostgreSQL)
Configuration comes from GATEHOUSE_* environment variables; see README.md.`

// run is the whole program; main only wires it to the process.
func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("no command\n%s", usage)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], env, stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], env, stdout)
	case "staff":
		return staffCommand(ctx, args[1:], env, stdout)
	case "audit":
		return auditCommand(ctx, args[1:], env, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}
