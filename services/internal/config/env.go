package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Env binds flags whose defaults come from environment variables, so that a
// service reads the operator's environment and a developer can still override
// any value on the command line. An environment value that does not parse is
// not fatal at bind time: it is kept as a problem and reported by
// Base.Validate together with every other problem, unless the flag was given
// explicitly (flags override the environment).
type Env struct {
	fs       *pflag.FlagSet
	lookup   func(string) (string, bool)
	problems []envProblem
}

type envProblem struct{ flag, msg string }

// NewEnv binds flags to fs reading the environment through lookup
// (os.LookupEnv when nil).
func NewEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) *Env {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return &Env{fs: fs, lookup: lookup}
}

// FlagSet is the flag set the flags are bound to.
func (e *Env) FlagSet() *pflag.FlagSet { return e.fs }

// get returns the environment value of key, treating an empty variable as
// unset (the operator writes empty values for optional settings).
func (e *Env) get(key string) (string, bool) {
	v, ok := e.lookup(key)
	if !ok || strings.TrimSpace(v) == "" {
		return "", false
	}
	return strings.TrimSpace(v), true
}

// usage appends the variable's name so --help says where a value may come
// from. The built-in default, never the environment's value, is what --help
// shows, so secrets such as DATABASE_URL do not leak into help output.
func usage(text, env string) string { return text + " [$" + env + "]" }

func (e *Env) bad(flag, env, raw, want string) {
	e.problems = append(e.problems, envProblem{flag, fmt.Sprintf("--%s / %s: %q is not %s", flag, env, raw, want)})
}

// String binds a string flag.
func (e *Env) String(p *string, name, env, def, text string) {
	e.fs.StringVar(p, name, def, usage(text, env))
	if v, ok := e.get(env); ok {
		*p = v
	}
}

// StringSlice binds a comma-separated list flag; blank items are dropped.
func (e *Env) StringSlice(p *[]string, name, env string, def []string, text string) {
	e.fs.StringSliceVar(p, name, def, usage(text, env))
	if v, ok := e.get(env); ok {
		*p = splitList(v)
	}
}

// Duration binds a duration flag ("20s", "1m30s").
func (e *Env) Duration(p *time.Duration, name, env string, def time.Duration, text string) {
	e.fs.DurationVar(p, name, def, usage(text, env))
	if v, ok := e.get(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			e.bad(name, env, v, "a duration, e.g. 20s or 1m30s")
			return
		}
		*p = d
	}
}

// Int64 binds an integer flag.
func (e *Env) Int64(p *int64, name, env string, def int64, text string) {
	e.fs.Int64Var(p, name, def, usage(text, env))
	if v, ok := e.get(env); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			e.bad(name, env, v, "a whole number, e.g. 1048576")
			return
		}
		*p = n
	}
}

// Float64 binds a floating-point flag.
func (e *Env) Float64(p *float64, name, env string, def float64, text string) {
	e.fs.Float64Var(p, name, def, usage(text, env))
	if v, ok := e.get(env); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			e.bad(name, env, v, "a decimal number, e.g. 0.25")
			return
		}
		*p = f
	}
}

// Bool binds a boolean flag ("true", "false", "1", "0").
func (e *Env) Bool(p *bool, name, env string, def bool, text string) {
	e.fs.BoolVar(p, name, def, usage(text, env))
	if v, ok := e.get(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			e.bad(name, env, v, "true or false")
			return
		}
		*p = b
	}
}

// Problems lists the environment values that did not parse, leaving out
// those whose flag was given on the command line.
func (e *Env) Problems() []string {
	var out []string
	for _, p := range e.problems {
		if f := e.fs.Lookup(p.flag); f != nil && f.Changed {
			continue
		}
		out = append(out, p.msg)
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
