// Command kubectl-wuxiao is the town IT staff's tool: onboard a town's
// villages from a spreadsheet, export them, print the villages' QR posters
// and see what is live, with the rights the operator gives a town admin and
// nothing more. Installed on the PATH it is a kubectl plugin:
//
//	kubectl wuxiao status --town xikou
//	kubectl wuxiao villages import villages.xlsx --town xikou
//	kubectl wuxiao villages export --town xikou -o villages.xlsx
//	kubectl wuxiao qr posters --town xikou -o posters.pdf
//
// It uses the user's kubeconfig (--kubeconfig, --context, KUBECONFIG).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := newRoot(&app{out: os.Stdout, errOut: os.Stderr}).ExecuteContext(ctx)
	stop()
	if err != nil {
		var quiet *silentError
		if !errors.As(err, &quiet) {
			fmt.Fprintln(os.Stderr, "错误：", err)
		}
		os.Exit(1)
	}
}
