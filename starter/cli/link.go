package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hlrz/hlrz/internal/onboard"
	"github.com/hlrz/hlrz/internal/store"
)

func (a *app) linkCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "link <ghl-contact-id> <rz-contact-id>",
		Short: "Declare a HighLevel and a Referrizer contact the same person (resolves ambiguous matches)",
		Long: `link pairs a HighLevel contact with a Referrizer contact as one person, after reading both to
make sure they exist. It is how an operator settles a Backfill.ambiguous-match dead letter.
Exit 5 when either contact already belongs to a different person. Run ` + "`starter sync`" + ` on the
person afterwards to sync them.`,
		Args: exactArgs("<ghl-contact-id>", "<rz-contact-id>"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			conn, err := a.connection()
			if err != nil {
				return err
			}
			if err := refusePending(conn); err != nil {
				return err
			}
			c, err := a.conn(ctx, conn.ID)
			if err != nil {
				return err
			}
			if _, err := c.GHL.GetContact(ctx, args[0]); isNotFound(err) {
				return notFoundErr("HighLevel contact %s not found in location %s", args[0], conn.GHLLocationID)
			} else if err != nil {
				return fmt.Errorf("read HighLevel contact %s: %w", args[0], err)
			}
			if _, err := c.RZ.GetContact(ctx, args[1]); isNotFound(err) {
				return notFoundErr("Referrizer contact %s not found", args[1])
			} else if err != nil {
				return fmt.Errorf("read Referrizer contact %s: %w", args[1], err)
			}
			st, err := a.store()
			if err != nil {
				return err
			}
			l, err := pairHeld(ctx, st, conn.ID, args[0], args[1])
			if errors.Is(err, store.ErrConflict) {
				return invalidErr("%w", err)
			}
			if err != nil {
				return fmt.Errorf("link %s and %s: %w", args[0], args[1], err)
			}
			if a.json() {
				a.printJSON(map[string]string{"connection": conn.ID, "linkId": l.ID, "ghlId": l.GHLContactID, "rzId": l.RZContactID})
				return nil
			}
			a.printf("person %s: HighLevel %s ⇄ Referrizer %s; sync them now with `starter sync -c %s %s`\n", l.ID, l.GHLContactID, l.RZContactID, conn.ID, l.ID)
			return nil
		},
	}
}

// pairHeld links the two contacts as one person (onboard.Pair).
func pairHeld(ctx context.Context, st store.Store, connID, ghlID, rzID string) (store.Link, error) {
	return onboard.Pair(ctx, st, connID, ghlID, rzID)
}
