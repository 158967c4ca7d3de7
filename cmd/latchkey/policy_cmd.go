package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/latchkeyhq/latchkey/policy"
)

func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Work with policy files",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a policy file; print every problem with its line",
		Long: `Validate a policy file as the server would load it. Exits 0 and prints a summary
when it is valid; exits 1 and prints each problem with its line and field otherwise.
A running server reloads its policy file on SIGHUP and refuses one that fails this check.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := policy.Load(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid (issuer %s, %d scopes, %d owner overrides)\n",
				args[0], p.Issuer, len(p.Scopes), len(p.Owners))
			return nil
		},
	})
	return cmd
}
