package testenv

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vacunometro/vacunometro/internal/embedded"
)

// Emulator is a Google Pub/Sub emulator of the test's own (the chaos tests stop and restart it): gcloud and its
// java child in a process group of their own (setsid), so that Stop ends both.
type Emulator struct {
	Host string // 127.0.0.1:PORT
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartEmulator starts an emulator on a free port; its log goes to a file
// named after prefix in the temporary directory. Stop it when done.
func StartEmulator(prefix string) (*Emulator, error) {
	if _, err := exec.LookPath("gcloud"); err != nil {
		return nil, fmt.Errorf("gcloud (the Pub/Sub emulator) is not on PATH")
	}
	port, err := embedded.FreePort()
	if err != nil {
		return nil, err
	}
	e := &Emulator{Host: fmt.Sprintf("127.0.0.1:%d", port), log: filepath.Join(os.TempDir(), fmt.Sprintf("%s-emulator-%d.log", prefix, port))}
	return e, e.Start()
}

// Start (re)starts the emulator on its port and waits until it answers.
func (e *Emulator) Start() error {
	f, err := os.Create(e.log)
	if err != nil {
		return err
	}
	defer f.Close()
	e.cmd = exec.Command("gcloud", "beta", "emulators", "pubsub", "start", "--host-port="+e.Host, "--project=p")
	e.cmd.Stdout, e.cmd.Stderr = f, f
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := e.cmd.Start(); err != nil {
		return fmt.Errorf("start the Pub/Sub emulator: %w", err)
	}
	e.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(e.cmd, e.done)
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := c.Get("http://" + e.Host + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.Stop()
	b, _ := os.ReadFile(e.log)
	return fmt.Errorf("the Pub/Sub emulator did not answer on %s within 90s:\n%s", e.Host, b)
}

// Stop ends the emulator's process group: SIGTERM, then SIGKILL.
func (e *Emulator) Stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	pgid := e.cmd.Process.Pid // setsid: the group id is gcloud's pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
	}
	// java may outlive gcloud: kill whatever is left of the group.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	for i := 0; i < 50 && syscall.Kill(-pgid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	e.cmd = nil
}
