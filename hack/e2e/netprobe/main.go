// Command netprobe is the e2e network policy test's probe (hack/e2e
// netpol_test.go): run as a pod with the labels of the pod it stands in for,
// it tries a TCP connection to each NAME=HOST:PORT argument, all at once,
// and reports each outcome as JSON in its termination message (which the
// API server keeps after the pod ends, so the test reads it without
// kubectl logs). "ok" is a completed handshake; anything else is the error
// (a policy drop shows as a timeout, a closed port as "connection refused").
//
//	netprobe [-wait 5s] [-timeout 3s] name=198.18.0.1:25432 ...
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

func main() {
	wait := flag.Duration("wait", 5*time.Second, "pause before the first connection (the agent learns the pod's address from the API server)")
	timeout := flag.Duration("timeout", 3*time.Second, "connect timeout per target")
	out := flag.String("out", "/dev/termination-log", "where the JSON report goes (and to stdout)")
	flag.Parse()
	time.Sleep(*wait)
	results := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, arg := range flag.Args() {
		name, addr, ok := strings.Cut(arg, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "netprobe: %q is not NAME=HOST:PORT\n", arg)
			os.Exit(2)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := "ok"
			ctx, cancel := context.WithTimeout(context.Background(), *timeout)
			defer cancel()
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err != nil {
				res = err.Error()
				if ctx.Err() != nil {
					res = "timeout: " + res
				}
			} else {
				c.Close()
			}
			mu.Lock()
			results[name] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	b, _ := json.Marshal(results)
	fmt.Println(string(b))
	if err := os.WriteFile(*out, b, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "netprobe:", err)
		os.Exit(1)
	}
}
