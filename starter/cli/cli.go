// Package cli implements the `starter` operator CLI: connect a HighLevel location to a
// Referrizer account, manage its mapping, schedules and dead letters, run a backfill with
// live progress, sync or dry-run one person, show status, and check that recent workflow
// histories still replay against the current code before a deploy.
//
// Run is the whole program, so tests drive it in-process with their own environment.
//
// Exit codes (stable; scripts may rely on them):
//
//	0  ok
//	1  failure (an API, Temporal or store call failed, a sync pass failed, …)
//	2  usage: unknown command or flag, wrong arguments, missing configuration
//	3  not found: connection, person, dead letter
//	4  nondeterminism found by replay-check
//	5  invalid input or credentials rejected (mapping errors, a token either side refused)
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/workflows"
)

// Exit codes.
const (
	ExitOK             = 0
	ExitFailure        = 1
	ExitUsage          = 2
	ExitNotFound       = 3
	ExitNondeterminism = 4
	ExitInvalid        = 5
)

// exitError carries the exit code a failure maps to.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

func usageErr(format string, args ...any) error {
	return withCode(ExitUsage, fmt.Errorf(format, args...))
}

func notFoundErr(format string, args ...any) error {
	return withCode(ExitNotFound, fmt.Errorf(format, args...))
}

func invalidErr(format string, args ...any) error {
	return withCode(ExitInvalid, fmt.Errorf(format, args...))
}

// Option adjusts Run for tests.
type Option func(*options)

type options struct {
	stdin    io.Reader
	register func(worker.WorkflowRegistry)
	http     *http.Client
}

// WithStdin sets where `-` arguments (mapping files, tokens) are read from; default os.Stdin.
func WithStdin(r io.Reader) Option { return func(o *options) { o.stdin = r } }

// WithWorkflowRegistration replaces workflows.Register in replay-check, so a test can prove
// the gate catches a nondeterministic change.
func WithWorkflowRegistration(fn func(worker.WorkflowRegistry)) Option {
	return func(o *options) { o.register = fn }
}

// Output formats.
const (
	outText = "text"
	outJSON = "json"
)

// app is one invocation: its flags, environment and lazily opened connections.
type app struct {
	ctx            context.Context
	stdout, stderr io.Writer
	getenv         func(string) string
	opts           options

	// Global flags.
	dev       bool
	dataDir   string
	connID    string
	output    string
	workerURL string

	entered     bool // a command's RunE started: errors before it are usage errors
	printedJSON bool // the command already wrote its JSON result

	keys     *secrets.Keyring
	st       store.Store
	tc       client.Client
	tcNS     string
	closers  []func()
	registry *connector.Registry
}

// Run runs the CLI with args (without the program name) and returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string, opts ...Option) int {
	a := &app{ctx: ctx, stdout: stdout, stderr: stderr, getenv: getenv}
	a.opts = options{stdin: os.Stdin, register: workflows.Register, http: &http.Client{}}
	for _, o := range opts {
		o(&a.opts)
	}
	defer a.close()
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := a.exitCode(err)
	msg := oneLine(err)
	if a.output == outJSON && !a.printedJSON {
		a.printJSON(struct {
			Error    string `json:"error"`
			ExitCode int    `json:"exitCode"`
		}{msg, code})
	}
	fmt.Fprintln(stderr, "starter: "+msg)
	return code
}

func (a *app) exitCode(err error) int {
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case !a.entered:
		// Cobra's own parsing failed: unknown command or flag, wrong argument count.
		return ExitUsage
	case errors.Is(err, store.ErrNotFound):
		return ExitNotFound
	}
	return ExitFailure
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "starter",
		Short: "Operate the HighLevel ⇄ Referrizer sync",
		Long: `starter operates the HighLevel ⇄ Referrizer sync: connections, mappings, backfills,
one-person syncs and dry runs, status, schedules, dead letters and the pre-deploy replay check.

It reads the worker's environment: DATABASE_URL, HLRZ_ENCRYPTION_KEYS, TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_* (via the Temporal SDK's envconfig),
HLRZ_TASK_QUEUE, HLRZ_PUBLIC_URL, HLRZ_GHL_BASE_URL and HLRZ_RZ_BASE_URL. With --dev it talks to
the local stack of ` + "`go run ./worker --dev`" + ` instead: SQLite and the dev key under --data-dir,
Temporal at 127.0.0.1:7233, the simulators at 127.0.0.1:8091 and :8092.

Exit codes: 0 ok, 1 failure, 2 usage or configuration, 3 not found,
4 nondeterminism found (replay-check), 5 invalid input or credentials rejected.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if a.output != outText && a.output != outJSON {
				return usageErr("--output: %q is not text or json", a.output)
			}
			return nil
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	pf := root.PersistentFlags()
	pf.BoolVar(&a.dev, "dev", false, "use the local dev stack (go run ./worker --dev): SQLite and key in --data-dir, Temporal at 127.0.0.1:7233")
	pf.StringVar(&a.dataDir, "data-dir", ".data", "with --dev: the dev stack's data directory")
	pf.StringVarP(&a.connID, "connection", "c", "", "connection id (default: the only active connection)")
	pf.StringVarP(&a.output, "output", "o", outText, "output format: text or json")
	pf.StringVar(&a.workerURL, "worker-url", "http://127.0.0.1:8081", "the worker's internal HTTP address (status reads its rate budgets)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return withCode(ExitUsage, err) })

	root.AddCommand(
		a.connectCmd(), a.connectionsCmd(), a.mappingCmd(), a.backfillCmd(), a.syncCmd(), a.planCmd(),
		a.linkCmd(), a.statusCmd(), a.schedulesCmd(), a.deadLettersCmd(), a.replayCheckCmd(), a.keysCmd(),
	)
	markEntered(root, &a.entered)
	return root
}

// markEntered wraps every RunE so Run can tell cobra's parse errors (usage) from failures.
func markEntered(c *cobra.Command, entered *bool) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			*entered = true
			return run(cmd, args)
		}
	}
	for _, sub := range c.Commands() {
		markEntered(sub, entered)
	}
}

// group is a command that only holds subcommands; run without one it is a usage error.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			names := make([]string, 0, len(cmd.Commands()))
			for _, s := range cmd.Commands() {
				names = append(names, s.Name())
			}
			return usageErr("%s needs a subcommand: %s", cmd.CommandPath(), strings.Join(names, ", "))
		},
	}
	c.AddCommand(subs...)
	return c
}

// exactArgs is cobra.ExactArgs with a message naming what is missing.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usageErr("%s takes %d argument(s): %s (got %d)", cmd.CommandPath(), len(names), strings.Join(names, " "), len(args))
		}
		return nil
	}
}

func (a *app) json() bool { return a.output == outJSON }

func (a *app) printJSON(v any) {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(a.stderr, "starter: encode output:", err)
	}
	a.printedJSON = true
}

func (a *app) printf(format string, args ...any) { fmt.Fprintf(a.stdout, format, args...) }

// oneLine keeps errors to the single line operators are promised.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
