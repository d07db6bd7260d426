package config

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes returned by Execute.
const (
	ExitOK     = 0
	ExitFailed = 1 // run returned an error
	ExitUsage  = 2 // bad flags or invalid configuration
)

// UsageError marks command-line and configuration errors (exit code 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// terminationLog is where Kubernetes reads a container's last words
// (TerminationMessagePath); a variable so tests can redirect it.
var terminationLog = "/dev/termination-log"

// NewRootCommand returns the command of one service binary: its flags are
// base's settings (WUXIAO_SERVICE defaults to name), it validates them before
// calling run, and run's context is cancelled on SIGINT or SIGTERM. After the
// first signal the default handling is restored, so a second one kills the
// process at once. Bind service-specific flags through base.Env() on the
// returned command before Execute.
func NewRootCommand(name, short string, base *Base, run func(ctx context.Context) error) *cobra.Command {
	if base.Service == "" {
		base.Service = name
	}
	cmd := &cobra.Command{
		Use:   name,
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return &UsageError{Err: err}
			}
			return nil
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := base.Validate(); err != nil {
				return &UsageError{Err: err}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				<-ctx.Done()
				stop()
			}()
			return run(ctx)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &UsageError{Err: err} })
	base.BindFlags(cmd.Flags(), nil)
	cmd.Flags().SortFlags = false
	return cmd
}

// Execute runs cmd and returns the process exit code: 0 on success (a run
// that ended because of a signal included), 2 for bad flags or configuration,
// 1 when run failed. The error is printed to cmd's error stream and written
// to the Kubernetes termination log when there is one, so `kubectl describe
// pod` shows it.
func Execute(cmd *cobra.Command) int {
	err := cmd.Execute()
	if err == nil || errors.Is(err, context.Canceled) {
		return ExitOK
	}
	msg := fmt.Sprintf("%s: %v\n", cmd.Name(), err)
	code := ExitFailed
	var ue *UsageError
	if errors.As(err, &ue) {
		code = ExitUsage
		if !isValidation(err) {
			msg += fmt.Sprintf("Run '%s --help' for usage.\n", cmd.CommandPath())
		}
	}
	_, _ = io.WriteString(cmd.ErrOrStderr(), msg)
	writeTerminationLog(msg)
	return code
}

func isValidation(err error) bool {
	var ve *ValidationError
	return errors.As(err, &ve)
}

func writeTerminationLog(msg string) {
	// Only an existing file: outside Kubernetes there is none to create.
	f, err := os.OpenFile(terminationLog, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.WriteString(f, msg)
}
