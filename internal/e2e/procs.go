package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file runs the product the way a user deploys it, each part its own OS process:
// PostgreSQL (an instance of the test's own, initdb into a temp dir), Temporal (the dev
// server binary on a data dir), both simulators (cmd/hlrz-sims) and the worker binary. Each
// can be killed with SIGKILL (PostgreSQL: pg_ctl stop -m immediate) and started again on
// the same data, which is what the fault suite does.

// Binaries are the product's binaries, built once for a test.
type Binaries struct {
	Worker, Sims, Temporal string
}

// BuildBinaries builds the worker, hlrz-sims and hlrz-temporal into a temp dir.
func BuildBinaries(t testing.TB) Binaries {
	t.Helper()
	dir := t.TempDir()
	root := moduleRoot(t)
	b := Binaries{Worker: filepath.Join(dir, "worker"), Sims: filepath.Join(dir, "hlrz-sims"), Temporal: filepath.Join(dir, "hlrz-temporal")}
	for out, pkg := range map[string]string{b.Worker: "./worker", b.Sims: "./internal/sim/cmd/hlrz-sims", b.Temporal: "./internal/devserver/cmd/hlrz-temporal"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, msg)
		}
	}
	return b
}

// Proc is one running process of the product.
type Proc struct {
	Name    string
	Bin     string
	Args    []string
	Env     []string
	LogPath string // stdout and stderr of every run, appended
	// Attempts is how many times a start is tried when the process exits before it is
	// ready (0 means once). Temporal's dev server needs it: it picks free ports for its
	// internal services and releases them before binding, and a parallel test package can
	// take one in between, which panics the server at start.
	Attempts int

	t     testing.TB
	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
	vars  map[string]string // KEY=VALUE lines printed on stdout
	Kills int               // SIGKILLs so far
}

// StartProc starts bin and waits until it has printed a line containing ready (on stdout).
func StartProc(t testing.TB, name, bin string, args, env []string, ready string, timeout time.Duration) *Proc {
	t.Helper()
	p := NewProc(t, name, bin, args, env)
	p.Start(ready, timeout)
	return p
}

// NewProc describes a process without starting it; it is killed when the test ends.
func NewProc(t testing.TB, name, bin string, args, env []string) *Proc {
	p := &Proc{Name: name, Bin: bin, Args: args, Env: env, LogPath: filepath.Join(t.TempDir(), name+".log"), t: t}
	t.Cleanup(func() { p.Kill() })
	return p
}

// Start runs the process (again) and waits for the ready line.
func (p *Proc) Start(ready string, timeout time.Duration) {
	p.t.Helper()
	for attempt := 1; ; attempt++ {
		err := p.start(ready, timeout)
		if err == nil {
			return
		}
		if attempt >= max(p.Attempts, 1) {
			p.t.Fatal(err)
		}
		p.t.Logf("attempt %d of %d failed, starting %s again: %v", attempt, p.Attempts, p.Name, err)
	}
}

// start runs the process once; it fails when the process exits before it is ready.
func (p *Proc) start(ready string, timeout time.Duration) error {
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(logf, "---- %s start %s\n", p.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stderr = logf
	// If the test binary dies (a timeout, a kill), its processes die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.Name, err)
	}
	done := make(chan struct{})
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
		_ = cmd.Wait()
		_ = logf.Close()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done, p.vars = cmd, done, map[string]string{}
	p.mu.Unlock()
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				<-done
				return fmt.Errorf("%s exited before it was ready; log %s:\n%s", p.Name, p.LogPath, p.Tail(40))
			}
			if k, v, ok := strings.Cut(line, "="); ok && k == strings.ToUpper(k) && !strings.Contains(k, " ") {
				p.mu.Lock()
				p.vars[k] = v
				p.mu.Unlock()
			}
			if strings.Contains(line, ready) {
				go func() { // keep draining
					for range lines {
					}
				}()
				return nil
			}
		case <-deadline:
			p.Kill()
			p.t.Fatalf("%s not ready after %s; log %s:\n%s", p.Name, timeout, p.LogPath, p.Tail(40))
		}
	}
}

// Var returns a KEY=VALUE the process printed.
func (p *Proc) Var(k string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.vars[k]
}

// Kill sends SIGKILL and waits for the process to be gone: no shutdown of any kind.
func (p *Proc) Kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	p.mu.Lock()
	p.Kills++
	p.mu.Unlock()
}

// CPUSeconds is the user plus system CPU time the running process has used so far, from
// /proc/<pid>/stat (Linux); -1 when it cannot be read.
func (p *Proc) CPUSeconds() float64 {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return -1
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	rest := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(rest) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseFloat(rest[11], 64)
	stime, err2 := strconv.ParseFloat(rest[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	const clockTicks = 100 // USER_HZ on Linux
	return (utime + stime) / clockTicks
}

// Running reports whether the process is alive.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Tail returns the last n lines of the process log.
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.LogPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// PG is a PostgreSQL instance of the test's own: its own data directory and port.
type PG struct {
	Port     int
	DataDir  string
	Restarts int
	bin, log string
	t        testing.TB
	cred     *syscall.Credential
}

// PostgresBin finds PostgreSQL's server binaries (initdb, pg_ctl); "" when not installed.
func PostgresBin() string {
	if v := os.Getenv("HLRZ_PG_BIN"); v != "" {
		return v
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

func pgVersion(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// StartPG initdb's a cluster into a temp dir and starts it on a free port. PostgreSQL
// refuses to run as root; as root the server runs as the postgres user.
func StartPG(t testing.TB) *PG {
	t.Helper()
	bin := PostgresBin()
	if bin == "" {
		t.Fatal("PostgreSQL server binaries (initdb, pg_ctl) not found; install PostgreSQL or set HLRZ_PG_BIN")
	}
	base, err := os.MkdirTemp("", "hlrz-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	p := &PG{Port: freePort(t), DataDir: filepath.Join(base, "data"), bin: bin, log: filepath.Join(base, "postgres.log"), t: t}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal("running as root and there is no postgres user to run PostgreSQL as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chmod(base, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(base, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := p.run("initdb", "-D", p.DataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.Start()
	t.Cleanup(func() { _, _ = p.run("pg_ctl", "-D", p.DataDir, "-m", "immediate", "-w", "stop") })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, p.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE hlrz"); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *PG) run(tool string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(p.bin, tool), args...)
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	cmd.Dir = filepath.Dir(p.DataDir)
	return cmd.CombinedOutput()
}

// Start starts the server (after StartPG or a Crash) and waits until it accepts connections.
func (p *PG) Start() {
	p.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", p.Port, filepath.Dir(p.DataDir))
	if out, err := p.run("pg_ctl", "-D", p.DataDir, "-l", p.log, "-o", opts, "-w", "-t", "120", "start"); err != nil {
		b, _ := os.ReadFile(p.log)
		p.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, b)
	}
}

// Crash stops the server the way a power cut looks to it (pg_ctl stop -m immediate: no
// checkpoint, every backend killed; the next start runs crash recovery), waits down, and
// starts it again.
func (p *PG) Crash(down time.Duration) {
	p.t.Helper()
	if out, err := p.run("pg_ctl", "-D", p.DataDir, "-m", "immediate", "-w", "stop"); err != nil {
		p.t.Fatalf("pg_ctl stop -m immediate: %v\n%s", err, out)
	}
	time.Sleep(down)
	p.Start()
	p.Restarts++
}

// AdminDSN is the maintenance database; DSN the product's.
func (p *PG) AdminDSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.Port)
}

// DSN is the product's database.
func (p *PG) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/hlrz?sslmode=disable", p.Port)
}

// CrashRecoveries counts "database system was interrupted" in the server log: proof that
// each restart after an immediate stop ran crash recovery.
func (p *PG) CrashRecoveries() int {
	b, _ := os.ReadFile(p.log)
	return strings.Count(string(b), "database system was not properly shut down; automatic recovery in progress")
}
