package mlflowtest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"time"
)

// Kill ends the server's whole process group with SIGKILL, as a crash or an OOM kill would: no graceful
// shutdown, open connections are dropped, and the backend store and artifacts stay as they are. The server
// can be brought back with Restart. Killing a server that is already down is not an error.
func (s *Server) Kill() error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	if err := signalGroup(s.cmd, killSignal); err != nil {
		return fmt.Errorf("failed to kill mlflow server: %w", err)
	}
	<-s.exited
	return s.waitPortClosed()
}

// portCloseLimit bounds the wait for a killed server's port to close, against
// a process that survived the kill; on a loaded machine the kernel may take a
// while to reap the group.
const portCloseLimit = 2 * time.Minute

// waitPortClosed waits until the server's port refuses connections: the group's leader may be reaped while a
// uvicorn child still holds the listening socket, which then accepts and resets connections.
func (s *Server) waitPortClosed() error {
	addr := strings.TrimPrefix(s.URL, "http://")
	deadline := time.Now().Add(portCloseLimit)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return nil
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			return fmt.Errorf("failed to stop mlflow server: %s still accepts connections %s after the kill", addr, portCloseLimit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Restart stops the server if it runs (SIGTERM, then SIGKILL after 10 s) and starts `mlflow server` again with
// the same command line and environment: the same port, the same backend store (the SQLite database survives,
// so every model, version, alias and tag is still there) and the same artifact root. It returns once GET
// /health answers 200 again (or ctx ends), and appends the new process's output to LogPath.
//
// It must not run concurrently with Stop or another Restart. Clients see the outage as refused or reset
// connections; the URL does not change.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.kill(); err != nil {
		return err
	}
	if err := s.waitPortClosed(); err != nil {
		return err
	}
	old := s.cmd
	cmd := exec.Command(old.Path, old.Args[1:]...) //nolint:gosec // the command line Start built
	cmd.Dir = old.Dir
	cmd.Env = old.Env
	cmd.Stdout = s.logFile
	cmd.Stderr = s.logFile
	setProcessGroup(cmd)

	// The old listening socket is gone once the group is dead, but the kernel may take a moment to release
	// the port; the server then exits with "address already in use", and we try again.
	began := time.Now()
	var lastErr error
	for attempt := 0; attempt < portRetries; attempt++ {
		if attempt > 0 {
			cmd = exec.Command(old.Path, old.Args[1:]...) //nolint:gosec // the command line Start built
			cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = old.Dir, old.Env, s.logFile, s.logFile
			setProcessGroup(cmd)
		}
		if err := s.spawn(cmd); err != nil {
			return err
		}
		err := s.waitHealthy(ctx)
		if err == nil {
			s.StartupTime = time.Since(began)
			return nil
		}
		_ = s.kill()
		lastErr = err
		if !strings.Contains(strings.ToLower(logTail(s.LogPath, logTailLines)), "address already in use") ||
			ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("failed to restart mlflow server on %s: %w\n--- last %d lines of %s ---\n%s",
		s.URL, lastErr, logTailLines, s.LogPath, logTail(s.LogPath, logTailLines))
}

// spawn starts cmd as the server's process and watches for its exit.
func (s *Server) spawn(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("failed to start mlflow server: %w", err)
	}
	exited := make(chan struct{})
	s.cmd, s.exited, s.waitErr = cmd, exited, nil
	go func() {
		s.waitErr = cmd.Wait()
		close(exited)
	}()
	return nil
}
