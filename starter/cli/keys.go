package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hlrz/hlrz/internal/store"
)

func (a *app) keysCmd() *cobra.Command {
	reseal := &cobra.Command{
		Use:   "reseal",
		Short: "Re-encrypt every sealed value under the newest (first) key of HLRZ_ENCRYPTION_KEYS",
		Long: `reseal re-encrypts, after a key rotation, every value sealed at rest under the primary key
(the first entry of HLRZ_ENCRYPTION_KEYS): tokens, company tokens, inbox bodies, ledger
snapshots, observations and dead-letter inputs; values written before encryption are sealed
too. It prints, per table, how many values it resealed and how many already were under the
primary key. Running it again reseals nothing. Run it once every worker and bridge runs with the
new key list: a process that lacks the new key cannot open what it reseals. Afterwards the old key can be removed from the
list (Temporal payloads sealed by it stay in workflow histories until they are deleted).
Match keys are digests under every listed key and need no reseal; a backfill rewrites them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.store()
			if err != nil {
				return err
			}
			rs, ok := st.(store.Resealer)
			if !ok {
				return fmt.Errorf("this store cannot reseal")
			}
			counts, err := rs.Reseal(cmd.Context())
			if err != nil {
				return fmt.Errorf("reseal: %w", err)
			}
			if a.json() {
				a.printJSON(struct {
					Key    string              `json:"key"`
					Tables []store.ResealCount `json:"tables"`
				}{a.keys.PrimaryID(), counts})
				return nil
			}
			a.printf("sealed values under key %s:\n", a.keys.PrimaryID())
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "  TABLE\tRESEALED\tALREADY CURRENT")
			for _, c := range counts {
				fmt.Fprintf(tw, "  %s\t%d\t%d\n", c.Table, c.Resealed, c.Current)
			}
			return tw.Flush()
		},
	}
	return group("keys", "Manage encryption keys at rest", reseal)
}
