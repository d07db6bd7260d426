package config

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
}

func TestExecute(t *testing.T) {
	boom := errors.New("database unreachable")
	tests := []struct {
		name     string
		env      func(map[string]string)
		args     []string
		run      func(ctx context.Context) error
		wantCode int
		wantErr  []string // substrings of stderr; none when empty
		wantRun  bool
	}{
		{name: "runs", run: func(context.Context) error { return nil }, wantCode: ExitOK, wantRun: true},
		{name: "run fails", run: func(context.Context) error { return boom }, wantCode: ExitFailed,
			wantErr: []string{"workflow: database unreachable"}, wantRun: true},
		{name: "cancelled run is a clean exit", run: func(context.Context) error { return context.Canceled },
			wantCode: ExitOK, wantRun: true},
		{name: "invalid configuration", env: func(e map[string]string) { e[EnvTownCode] = "33021"; e[EnvLogLevel] = "loud" },
			wantCode: ExitUsage, wantErr: []string{
				"workflow: invalid configuration (2 problems):",
				`--town-code / WUXIAO_TOWN_CODE: "33021" is not a 12-digit code`,
				`--log-level / LOG_LEVEL: "loud" is not a log level`,
			}},
		{name: "unknown flag", args: []string{"--colour"}, wantCode: ExitUsage,
			wantErr: []string{"unknown flag: --colour", "Run 'workflow --help' for usage."}},
		{name: "stray argument", args: []string{"serve"}, wantCode: ExitUsage,
			wantErr: []string{`unknown command "serve"`}},
		{name: "flag fixes the environment", env: func(e map[string]string) { e[EnvTownCode] = "33021" },
			args: []string{"--town-code", "330213100000"}, wantCode: ExitOK, wantRun: true},
		{name: "service defaults to the binary", env: func(e map[string]string) { delete(e, EnvService) },
			wantCode: ExitOK, wantRun: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := validEnv(t)
			if tt.env != nil {
				tt.env(env)
			}
			if _, ok := env[EnvService]; !ok {
				t.Setenv(EnvService, "")
			}
			setEnv(t, env)
			termLog := filepath.Join(t.TempDir(), "termination-log")
			if err := os.WriteFile(termLog, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			old := terminationLog
			terminationLog = termLog
			t.Cleanup(func() { terminationLog = old })

			var base Base
			ran := false
			run := tt.run
			if run == nil {
				run = func(context.Context) error { return nil }
			}
			cmd := NewRootCommand("workflow", "test", &base, func(ctx context.Context) error { ran = true; return run(ctx) })
			var stderr bytes.Buffer
			cmd.SetErr(&stderr)
			cmd.SetOut(&stderr)
			cmd.SetArgs(tt.args)
			if code := Execute(cmd); code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if ran != tt.wantRun {
				t.Errorf("run called = %v, want %v", ran, tt.wantRun)
			}
			if tt.wantRun && base.Service != "workflow" {
				t.Errorf("Service = %q, want workflow", base.Service)
			}
			last, _ := os.ReadFile(termLog)
			for _, want := range tt.wantErr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
				}
				if !strings.Contains(string(last), want) {
					t.Errorf("termination log lacks %q:\n%s", want, last)
				}
			}
			if len(tt.wantErr) == 0 && (stderr.Len() > 0 || len(last) > 0) {
				t.Errorf("unexpected output: %q, termination log %q", stderr.String(), last)
			}
		})
	}
}

func TestSignalCancelsRun(t *testing.T) {
	setEnv(t, validEnv(t))
	var base Base
	var cause error
	cmd := NewRootCommand("workflow", "test", &base, func(ctx context.Context) error {
		// The handler is installed before run is called, so the signal
		// cannot kill the test process.
		if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
			return err
		}
		<-ctx.Done()
		cause = ctx.Err()
		return nil
	})
	cmd.SetArgs(nil)
	if code := Execute(cmd); code != ExitOK {
		t.Fatalf("exit code %d", code)
	}
	if !errors.Is(cause, context.Canceled) {
		t.Errorf("ctx.Err() = %v, want context.Canceled", cause)
	}
}
