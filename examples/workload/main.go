// Command workload exchanges the demo root key for a Latchkey token as the
// dev workload identity and calls the demo resource server's Read method on
// a fixed interval, printing "read ok" or the gRPC code of the failure.
//
//	go run ./examples/workload --state .latchkey
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc/status"

	"github.com/latchkeyhq/latchkey/examples/internal/demo"
)

func main() {
	state := flag.String("state", demo.DefaultStateDir, "`latchkey dev` state folder")
	rsAddr := flag.String("rs-addr", "127.0.0.1:7450", "resource server address")
	count := flag.Int("count", 20, "number of Read calls to make")
	interval := flag.Duration("interval", 500*time.Millisecond, "time between Read calls")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, demo.State{Dir: *state}, *rsAddr, *count, *interval); err != nil {
		fmt.Fprintln(os.Stderr, "workload:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, st demo.State, rsAddr string, count int, interval time.Duration) error {
	if count < 1 || interval <= 0 {
		return fmt.Errorf("--count must be at least 1 and --interval positive")
	}
	bootCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	c, tlsCfg, err := demo.BootstrapWorkload(bootCtx, st, nil)
	cancel()
	if err != nil {
		return err
	}
	defer c.Close()
	conn, err := demo.DialResourceServer(rsAddr, tlsCfg, c)
	if err != nil {
		return err
	}
	defer conn.Close()

	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := range count {
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := demo.Read(callCtx, conn)
		cancel()
		if err != nil {
			fmt.Printf("read failed: %s\n", status.Code(err))
		} else {
			fmt.Println("read ok")
		}
		if i == count-1 {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}
