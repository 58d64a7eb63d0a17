package svc

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// ToolProgram is what a developer tool's main runs (devstack, kubestack):
// args without the program name, stdout for the command's output, stderr
// for usage, flag errors and progress logs.
type ToolProgram func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// ToolMain is the only exit of a developer tool with subcommands: it runs
// prog with a context cancelled on SIGINT/SIGTERM, prints any error but
// flag.ErrHelp (usage already printed) as "name: err" and exits 1 on every
// error. Unlike Main, an interrupted run exits 1 too: a service stopped by
// a signal did its job, a `devstack up` stopped half-way did not.
func ToolMain(name string, prog ToolProgram) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := runTool(ctx, name, prog, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func runTool(ctx context.Context, name string, prog ToolProgram, args []string, stdout, stderr io.Writer) int {
	err := prog(ctx, args, stdout, stderr)
	if err == nil {
		return 0
	}
	if !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
	}
	return 1
}

// Subcommand opens a tool's command switch: it splits args into the
// command and the rest, and makes the command's flag set, named
// "tool cmd", that reports errors to stderr. With no args it prints usage
// to stderr and returns flag.ErrHelp. End the switch with UnknownCommand.
func Subcommand(tool, usage string, args []string, stderr io.Writer) (cmd string, rest []string, fs *flag.FlagSet, err error) {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return "", nil, nil, flag.ErrHelp
	}
	fs = flag.NewFlagSet(tool+" "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	return args[0], args[1:], fs, nil
}

// UnknownCommand closes a tool's command switch: help, -h and --help
// print usage to stdout and succeed; any other command prints usage to
// stderr and is an error.
func UnknownCommand(cmd, usage string, stdout, stderr io.Writer) error {
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
