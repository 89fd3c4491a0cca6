package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// `securetrain compute exec [WORKSPACE/]COMPUTE [--node N] -- CMD …` runs
// a command in a node of a compute (what SSH into a node is in Azure)
// through the server's exec action: its output as it comes, and its exit
// code as the command's own.

func runComputeExec(name string, args []string, stdout, stderr io.Writer) int {
	c := newComputeCmd(name, stderr)
	node := c.fs.String("node", "", "the `node` to run in: its id (tvm-0000) or index in `compute nodes` (default: the first idle or running node)")
	timeout := c.fs.Int("timeout", 0, "kill the command after `seconds` (default and most: 3600)")
	var command []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, command = args[:i], args[i+1:]
	}
	// WORKSPACE/COMPUTE names the workspace too.
	c.validName = func(n string) error {
		if ws, compute, ok := strings.Cut(n, "/"); ok {
			if c.ws != "" && !strings.EqualFold(c.ws, ws) {
				return fmt.Errorf("%s names workspace %s, but --workspace is %s", n, ws, c.ws)
			}
			c.ws, c.compute = ws, compute
			n = compute
		}
		return validComputeName(n)
	}
	if ok, code := c.parse(args, true); !ok {
		return code
	}
	if len(command) == 0 {
		return c.badInput("the command to run follows --: securetrain compute exec %s -- CMD [ARG…]", c.compute)
	}
	if !c.connect() {
		return exitBadInput
	}
	// The server bounds the command's time; the answer lasts as long.
	c.srv.http = &http.Client{Transport: c.srv.http.Transport}
	body, err := json.Marshal(map[string]any{"command": command, "node": *node, "timeoutSeconds": *timeout})
	if err != nil {
		return c.fail(err)
	}
	resp, _, err := c.srv.send(http.MethodPost, c.computeID()+"/exec", body)
	if err != nil {
		return c.fail(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	for sc.Scan() {
		var fr struct {
			Stdout   []byte    `json:"stdout"`
			Stderr   []byte    `json:"stderr"`
			ExitCode *int      `json:"exitCode"`
			Error    *armError `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &fr); err != nil {
			fmt.Fprintf(stderr, "securetrain compute exec: the server's answer is not an exec stream: %v\n", err)
			return 1
		}
		_, _ = stdout.Write(fr.Stdout)
		_, _ = stderr.Write(fr.Stderr)
		switch {
		case fr.Error != nil:
			fmt.Fprintf(stderr, "securetrain compute exec %s: %s: %s\n", c.compute, fr.Error.Code, fr.Error.Message)
			return 1
		case fr.ExitCode != nil:
			return *fr.ExitCode
		}
	}
	fmt.Fprintf(stderr, "securetrain compute exec %s: the answer ended before the command's exit code (%v)\n", c.compute, sc.Err())
	return 1
}
