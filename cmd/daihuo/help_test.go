package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

// Asking any command for help gives it, as a success (main exits 0 on
// flag.ErrHelp); a command missing its subcommand is an error naming the
// usage.
func TestHelpOfEveryCommand(t *testing.T) {
	for _, tt := range []struct {
		args []string
		err  string // "help": flag.ErrHelp; "": nil; else in the error
		out  string // in stdout
	}{
		{[]string{"--help"}, "", "commands:"},
		{[]string{"serve", "-h"}, "help", ""},
		{[]string{"migrate", "-h"}, "help", "migrate up|status"},
		{[]string{"migrate", "--help"}, "help", "status  list the migrations"},
		{[]string{"token", "-h"}, "help", "token create --role"},
		{[]string{"bench", "-h"}, "help", "bench fanout|flashsale|all"},
		{[]string{"demo", "-h"}, "help", ""},
		{[]string{"migrate"}, "usage: daihuo migrate up|status", ""},
		{[]string{"token"}, "usage: daihuo token create", ""},
		{[]string{"bench"}, "usage: daihuo bench", ""},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tt.args, func(string) string { return "" }, &out)
			switch {
			case tt.err == "help" && !errors.Is(err, flag.ErrHelp):
				t.Errorf("error %v, want flag.ErrHelp", err)
			case tt.err == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.err != "" && tt.err != "help" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("error %v, want one saying %q", err, tt.err)
			}
			if !strings.Contains(out.String(), tt.out) {
				t.Errorf("stdout %q lacks %q", out.String(), tt.out)
			}
		})
	}
}
