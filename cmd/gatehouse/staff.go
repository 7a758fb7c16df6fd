package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/user"
	"strings"
	"time"

	"gatehouse/models"
	"gatehouse/policy"
)

// staffCommand operates on staff records from the command line: adding the
// first sysadmin of a new installation, and offboarding a leaver at once.
func staffCommand(ctx context.Context, args, env []string, stdout io.Writer) error {
	if len(args) < 2 {
		return errors.New("usage: gatehouse staff add EMAIL --name NAME --tier TIER [--agreement VERSION] [--trained DATE] | gatehouse staff offboard EMAIL [--reason TEXT] | gatehouse staff set-scope EMAIL SCOPE")
	}
	verb, email := args[0], args[1]
	if verb != "add" && verb != "offboard" && verb != "set-scope" {
		return fmt.Errorf("unknown staff command %q", verb)
	}
	var scope string
	if verb == "set-scope" {
		// The scope is the one argument after the email, quoted when it
		// has several conditions; "" lifts the limit.
		if len(args) < 3 || strings.HasPrefix(args[2], "-") && args[2] != "--dev" {
			return errors.New(`usage: gatehouse staff set-scope EMAIL SCOPE [--dev] (SCOPE like "region=eu,uk plan=enterprise", or "" for all workspaces)`)
		}
		scope = args[2]
		args = append(args[:2:2], args[3:]...)
	}
	fs := flag.NewFlagSet("staff "+verb, flag.ContinueOnError)
	fs.SetOutput(stdout)
	dev := fs.Bool("dev", false, "use the development database under ./.gatehouse")
	name := fs.String("name", "", "the person's name (add)")
	tier := fs.String("tier", "", "the role: engineer, support, senior, sysadmin, auditor or a custom role's name (add)")
	agreement := fs.String("agreement", "", "confidentiality agreement version signed today (add)")
	trained := fs.String("trained", "", "the date security training was completed, YYYY-MM-DD (add)")
	reason := fs.String("reason", "offboarded from the command line", "why (offboard)")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		// e.g. an unquoted --reason: refuse rather than record half of it.
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var trainedOn time.Time
	if *trained != "" {
		d, err := time.Parse(time.DateOnly, *trained)
		if err != nil || d.After(time.Now()) {
			return fmt.Errorf("--trained %q: want the date training was completed, like 2026-11-30, not in the future", *trained)
		}
		trainedOn = d
	}
	var cfgArgs []string
	if *dev {
		cfgArgs = []string{"--dev"}
	}
	cfg, err := loadConfig("staff", cfgArgs, env, stdout)
	if err != nil {
		return err
	}
	db, err := openPortalDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	by := models.Actor{Email: "cli", Tier: "system"}
	if u, err := user.Current(); err == nil {
		by.Email = "cli:" + u.Username
	}
	now := time.Now()
	switch verb {
	case "add":
		s, err := models.CreateStaff(ctx, db.Write, now, by, models.Staff{Email: email, Name: *name, Tier: policy.Tier(*tier)})
		if err != nil {
			return err
		}
		if *agreement != "" {
			if err := models.RecordAgreement(ctx, db.Write, models.Act{Now: now, By: by}, s.ID, *agreement, now); err != nil {
				return err
			}
		}
		if !trainedOn.IsZero() {
			if err := models.RecordTraining(ctx, db.Write, models.Act{Now: now, By: by}, s.ID, trainedOn); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "added %s (%s)\n", s.Email, s.Tier)
		return nil
	case "set-scope":
		return setScope(ctx, cfg, db, models.Act{Now: now, By: by}, email, scope, stdout)
	case "offboard":
		s, err := models.FindStaffByEmail(ctx, db.Read, email)
		if errors.Is(err, models.ErrNotFound) {
			return fmt.Errorf("no staff member has the address %s; nothing was changed", email)
		}
		if err != nil {
			return err
		}
		if err := models.Offboard(ctx, db.Write, models.Act{Now: now, By: by}, s.ID, *reason); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "offboarded %s: sessions ended, sign-in refused from now on\n", s.Email)
		return nil
	}
	return fmt.Errorf("unknown staff command %q", verb)
}

// setScope sets email's scope, ending their grants on workspaces it no
// longer admits (whose attributes are read from the product database).
func setScope(ctx context.Context, cfg Config, db *models.DB, act models.Act, email, scope string, stdout io.Writer) error {
	s, err := models.FindStaffByEmail(ctx, db.Read, email)
	if errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("no staff member has the address %s; nothing was changed", email)
	}
	if err != nil {
		return err
	}
	product, err := models.Open(ctx, cfg.ProductDatabaseURL)
	if err != nil {
		return fmt.Errorf("product database: %w", err)
	}
	defer product.Close()
	if err := models.SetStaffScope(ctx, db.Write, product.Read, act, s.ID, scope); err != nil {
		return err
	}
	s, err = models.FindStaffByEmail(ctx, db.Read, email)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s now works on %s\n", s.Email, cmp.Or(s.Scope, "all workspaces"))
	return nil
}
