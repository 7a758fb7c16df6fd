package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"gatehouse/models"
)

const auditUsage = "usage: gatehouse audit verify [--dev] [--checkpoint FILE | --since-checkpoint FILE] [--public-key BASE64] [--archive FILE ...] | gatehouse audit export --format csv|jsonl [--workspace SLUG] [--since TIME] [--after SEQ] [--dev] | gatehouse audit check-export FILE | gatehouse audit partitions [--dev] | gatehouse audit archive --month YYYY-MM --to FILE [--dev]"

// auditCommand verifies the audit chain or exports the audit log.
func auditCommand(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(auditUsage)
	}
	verb := args[0]
	if verb == "check-export" {
		return auditCheckExport(args[1:], stdout)
	}
	if verb != "verify" && verb != "export" && verb != "partitions" && verb != "archive" {
		return fmt.Errorf("unknown audit command %q\n%s", verb, auditUsage)
	}
	fs := flag.NewFlagSet("audit "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dev := fs.Bool("dev", false, "use the development database under ./.gatehouse")
	checkpoint := fs.String("checkpoint", "", "verify: an audit stream file; its last checkpoint must still be in the chain, and each of its events in the database")
	sinceCheckpoint := fs.String("since-checkpoint", "", "verify: a file holding a signed checkpoint you trust (its last one, e.g. an audit stream); verify only the events after it")
	publicKey := fs.String("public-key", "", "verify: base64 ed25519 public key of the checkpoints (default: derived from GATEHOUSE_AUDIT_SIGNING_KEY)")
	var archives multiFlag
	fs.Var(&archives, "archive", "verify: an archive file (gatehouse audit archive) of a detached month, verified in its place in the chain; repeatable")
	month := fs.String("month", "", "archive: the month to archive, YYYY-MM (over, with a partition)")
	to := fs.String("to", "", "archive: the archive file to write (must not exist)")
	format := fs.String("format", "", "export: csv or jsonl")
	workspace := fs.String("workspace", "", "export: only events of this workspace")
	since := fs.String("since", "", "export: only events at or after this time (2006-01-02, 2006-01-02T15:04 UTC, or RFC 3339)")
	after := fs.Int64("after", 0, "export: only events after this seq (to resume an export that was cut: its last event's seq)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var cfgArgs []string
	if *dev {
		cfgArgs = []string{"--dev"}
	}
	cfg, err := loadConfig("audit", cfgArgs, env, stderr)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		return errors.New("GATEHOUSE_DATABASE_URL is missing")
	}
	// Check the arguments before touching the database.
	var q models.AuditQuery
	switch verb {
	case "verify":
		if *format != "" || *workspace != "" || *since != "" || *after != 0 {
			return errors.New("--format, --workspace, --since and --after are for audit export")
		}
		if *checkpoint != "" && *sinceCheckpoint != "" {
			return errors.New("--checkpoint and --since-checkpoint do not go together: --checkpoint walks the whole chain")
		}
		if *publicKey != "" && *checkpoint == "" && *sinceCheckpoint == "" && len(archives) == 0 {
			return errors.New("--public-key needs --checkpoint, --since-checkpoint or --archive")
		}
		if len(archives) > 0 && *checkpoint != "" {
			return errors.New("--archive goes with a full verify or --since-checkpoint, not --checkpoint")
		}
		if *month != "" || *to != "" {
			return errors.New("--month and --to are for audit archive")
		}
	case "partitions":
		if *checkpoint != "" || *sinceCheckpoint != "" || *publicKey != "" || *format != "" || *workspace != "" || *since != "" || *after != 0 || len(archives) > 0 || *month != "" || *to != "" {
			return errors.New("audit partitions takes no option but --dev")
		}
	case "archive":
		if *checkpoint != "" || *sinceCheckpoint != "" || *publicKey != "" || *format != "" || *workspace != "" || *since != "" || *after != 0 || len(archives) > 0 {
			return errors.New("audit archive takes --month, --to and --dev")
		}
		if _, err := time.Parse("2006-01", *month); err != nil {
			return errors.New("--month: want a month as YYYY-MM")
		}
		if *to == "" {
			return errors.New("--to: name the archive file to write")
		}
		if cfg.AuditSigningKey == nil && !cfg.Dev {
			return errors.New("audit archive signs the archive: set GATEHOUSE_AUDIT_SIGNING_KEY")
		}
	case "export":
		if *checkpoint != "" || *sinceCheckpoint != "" || *publicKey != "" || len(archives) > 0 {
			return errors.New("--checkpoint, --since-checkpoint, --public-key and --archive are for audit verify")
		}
		if *month != "" || *to != "" {
			return errors.New("--month and --to are for audit archive")
		}
		if *format != "csv" && *format != "jsonl" {
			return errors.New("--format must be csv or jsonl")
		}
		if *after < 0 {
			return errors.New("--after must be a seq, 0 or more")
		}
		q.Workspace, q.AfterSeq = *workspace, *after
		if *since != "" {
			if q.Since, err = models.ParseAuditTime(*since, false); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
		}
	}
	if cfg.Dev {
		if _, err := os.Stat(cfg.DatabaseURL); err != nil {
			return fmt.Errorf("no development database at %s (start `gatehouse serve --dev` once): %w", cfg.DatabaseURL, err)
		}
	}
	db, err := models.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if verb == "partitions" {
		return auditPartitions(ctx, db, stdout)
	}
	if verb == "archive" {
		m, _ := time.Parse("2006-01", *month)
		return auditArchive(ctx, cfg, db, m, *to, time.Now(), stdout)
	}
	if verb == "verify" && (*sinceCheckpoint != "" || len(archives) > 0) {
		return auditVerifySince(ctx, cfg, db, *sinceCheckpoint, archives, *publicKey, stdout)
	}
	if verb == "verify" {
		return auditVerify(ctx, cfg, db, *checkpoint, *publicKey, stdout)
	}
	return auditExport(ctx, db, q, *format, stdout)
}

// auditVerify walks the chain; with a stream file it also holds the
// chain against the file's last checkpoint and its every event, names
// the first seq at which any of them fails, and checks that the file
// lacks no event between its first and its last.
func auditVerify(ctx context.Context, cfg Config, db *models.DB, streamFile, publicKey string, stdout io.Writer) error {
	if streamFile == "" {
		res, err := models.VerifyAudit(ctx, db)
		if err != nil {
			return err
		}
		if err := models.RecordVerification(ctx, db.Write, time.Now(), cliActor().Email, res); err != nil {
			return err
		}
		if !res.OK {
			return fmt.Errorf("audit chain broken at seq %d: %s (%d events before it verify)", res.BrokenSeq, res.Problem, res.Count)
		}
		fmt.Fprintf(stdout, "audit chain OK: %d events, head seq %d, hash %s\n", res.Count, res.Seq, res.Head)
		return nil
	}
	pub, err := checkpointKey(cfg, publicKey)
	if err != nil {
		return err
	}
	f, err := os.Open(streamFile) // #nosec G304 G703 -- the operator names the stream file on the command line; it is only read
	if err != nil {
		return err
	}
	defer f.Close()
	sr, err := models.VerifyStream(ctx, db, f, pub)
	if err != nil {
		return fmt.Errorf("%s: %w", streamFile, err)
	}
	seq, problem := sr.First()
	rec := sr.Chain
	if seq != 0 {
		rec.OK, rec.BrokenSeq, rec.Problem = false, seq, problem
	}
	if err := models.RecordVerification(ctx, db.Write, time.Now(), cliActor().Email, rec); err != nil {
		return err
	}
	if seq != 0 {
		return fmt.Errorf("audit chain broken at seq %d: %s (%d events verify in the chain, %d streamed events compared)", seq, problem, sr.Chain.Count, sr.Events)
	}
	res, cp := sr.Chain, sr.Checkpoint
	fmt.Fprintf(stdout, "audit chain OK: %d events, head seq %d, hash %s\n", res.Count, res.Seq, res.Head)
	fmt.Fprintf(stdout, "checkpoint of %s at seq %d (key %s) is in the chain\n", cp.At.Format(time.RFC3339), cp.Seq, cp.KeyID)
	fmt.Fprintf(stdout, "%d streamed events match the database\n", sr.Events)
	return streamContinuity(streamFile, sr.Continuity, stdout)
}

// auditVerifySince verifies the chain from the last checkpoint in cpFile
// (when given), which the operator trusts once its signature is checked:
// the event at its seq must still carry its hash, and only the events
// after it are walked. Archive files of detached months take their
// places in the chain.
func auditVerifySince(ctx context.Context, cfg Config, db *models.DB, cpFile string, archiveFiles []string, publicKey string, stdout io.Writer) error {
	pub, err := checkpointKey(cfg, publicKey)
	if err != nil {
		return err
	}
	opts := models.VerifyOptions{PublicKey: pub}
	var cp models.Checkpoint
	if cpFile != "" {
		f, err := os.Open(cpFile) // #nosec G304 G703 -- the operator names the checkpoint file on the command line; it is only read
		if err != nil {
			return err
		}
		cp, err = models.ReadLastCheckpoint(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", cpFile, err)
		}
		opts.From = &cp
	}
	for _, name := range archiveFiles {
		f, err := os.Open(name) // #nosec G304 G703 -- the operator names the archive files on the command line; they are only read
		if err != nil {
			return err
		}
		defer f.Close()
		opts.Archives = append(opts.Archives, models.Archive{Name: name, R: f})
	}
	res, err := models.VerifyAuditWith(ctx, db, opts)
	if err != nil {
		return err
	}
	if err := models.RecordVerification(ctx, db.Write, time.Now(), cliActor().Email, res); err != nil {
		return err
	}
	if !res.OK {
		return fmt.Errorf("audit chain broken at seq %d: %s (%d events before it verify)", res.BrokenSeq, res.Problem, res.Count)
	}
	if cpFile != "" {
		fmt.Fprintf(stdout, "checkpoint of %s at seq %d (key %s) is in the chain\n", cp.At.Format(time.RFC3339), cp.Seq, cp.KeyID)
		fmt.Fprintf(stdout, "audit chain OK since seq %d: %d events, head seq %d, hash %s\n", cp.Seq, res.Count, res.Seq, res.Head)
	} else {
		fmt.Fprintf(stdout, "audit chain OK: %d events, head seq %d, hash %s\n", res.Count, res.Seq, res.Head)
	}
	if len(archiveFiles) > 0 {
		fmt.Fprintf(stdout, "with %d archive files in their places\n", len(archiveFiles))
	}
	return nil
}

// auditArchive writes a month's events to a new archive file, signed,
// verifies the chain with the file in the partition's place, and only then
// detaches the partition (checking, locked, that it still holds exactly
// the archived events). The detached table is kept: dropping it is the
// operator's decision, once the archive is safe elsewhere.
func auditArchive(ctx context.Context, cfg Config, db *models.DB, month time.Time, to string, now time.Time, stdout io.Writer) error {
	key := cfg.AuditSigningKey
	if key == nil {
		var err error
		if key, err = devAuditKey(cfg.DataDir); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 G703 -- the operator names the archive file; it must be new
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	hdr, err := models.ArchiveMonth(ctx, db, month, f, key, now)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(to) // #nosec G703 -- the archive file the operator named, which this command just wrote
		return err
	}
	r, err := os.Open(to) // #nosec G304 G703 -- the file just written
	if err != nil {
		return err
	}
	defer r.Close()
	res, err := models.VerifyAuditWith(ctx, db, models.VerifyOptions{
		PublicKey: key.Public().(ed25519.PublicKey), Archives: []models.Archive{{Name: to, R: r}}, WithoutPartition: hdr.Partition,
	})
	if err != nil {
		return fmt.Errorf("archive %s written but not verified, nothing detached: %w", to, err)
	}
	if !res.OK {
		return fmt.Errorf("archive %s written but the chain does not verify with it in place of %s (broken at seq %d: %s): nothing detached", to, hdr.Partition, res.BrokenSeq, res.Problem)
	}
	if err := models.DetachArchivedMonth(ctx, db, hdr); err != nil {
		return err
	}
	detail := map[string]any{"month": hdr.Month, "count": hdr.Count, "first_seq": hdr.FirstSeq, "last_seq": hdr.LastSeq, "last_hash": hdr.LastHash, "partition": hdr.Partition}
	if _, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{At: time.Now(), Actor: cliActor(), Action: models.ActionAuditArchived, Detail: detail}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "archived %s: %d events, seq %d to %d, last hash %s, to %s\n", hdr.Month, hdr.Count, hdr.FirstSeq, hdr.LastSeq, hdr.LastHash, to)
	fmt.Fprintf(stdout, "the chain verifies with the archive in its place (%d events); partition %s detached and kept\n", res.Count, hdr.Partition)
	return nil
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// auditPartitions lists the audit log's partitions on PostgreSQL, oldest
// first.
func auditPartitions(ctx context.Context, db *models.DB, stdout io.Writer) error {
	if db.Dialect != models.Postgres {
		fmt.Fprintln(stdout, "audit_events is one table on SQLite: no partitions")
		return nil
	}
	parts, err := models.AuditPartitions(ctx, db)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return errors.New("audit_events has no partitions: run gatehouse migrate")
	}
	for _, p := range parts {
		rows := "rows unknown (never analysed)"
		if p.Rows >= 0 {
			rows = fmt.Sprintf("about %d rows", p.Rows)
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s, %d kB\n", p.Name, p.Bound, rows, p.Bytes/1024)
	}
	return nil
}

// streamContinuity says which of the chain's events the stream holds:
// an error when it lacks some between its first and its last (they were
// lost on the way), a line for repeats (which a stdout stream may hold
// after a crash, a file stream never).
func streamContinuity(streamFile string, c models.Continuity, stdout io.Writer) error {
	if c.Repeated > 0 {
		fmt.Fprintf(stdout, "%d event lines repeat an earlier line's seq, the first seq %d\n", c.Repeated, c.FirstRepeated)
	}
	if c.Missing > 0 {
		return fmt.Errorf("audit stream %s lacks %d of the events from seq %d to %d, the first seq %d: they never reached the stream", streamFile, c.Missing, c.First, c.Last, c.FirstMissing)
	}
	if c.Last > 0 {
		fmt.Fprintf(stdout, "the stream holds every event from seq %d to %d (the chain's head: %d)\n", c.First, c.Last, c.Head)
	}
	return nil
}

// checkpointKey is the public key checkpoints are verified with: the one
// given, or the public half of the configured (or --dev) signing key.
func checkpointKey(cfg Config, publicKey string) (ed25519.PublicKey, error) {
	if publicKey != "" {
		pub, err := models.ParsePublicKey(publicKey)
		if err != nil {
			return nil, fmt.Errorf("--public-key: %w", err)
		}
		return pub, nil
	}
	key := cfg.AuditSigningKey
	if key == nil && cfg.Dev {
		var err error
		if key, err = devAuditKey(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	if key == nil {
		return nil, errors.New("no key to check the checkpoint with: set GATEHOUSE_AUDIT_SIGNING_KEY or pass --public-key")
	}
	return key.Public().(ed25519.PublicKey), nil
}

// auditExport records the export, writes every matching event from
// before that record to stdout with the trailer, and records how it
// ended: audit.export_finished, or audit.export_cut (and an error) when
// the database or stdout failed part way.
func auditExport(ctx context.Context, db *models.DB, q models.AuditQuery, format string, stdout io.Writer) error {
	by := cliActor()
	detail := map[string]string{"format": format}
	if q.Workspace != "" {
		detail["workspace"] = q.Workspace
	}
	if !q.Since.IsZero() {
		detail["since"] = q.Since.Format(time.RFC3339Nano)
	}
	if q.AfterSeq > 0 {
		detail["after"] = strconv.FormatInt(q.AfterSeq, 10)
	}
	ev, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{At: time.Now(), Actor: by, Action: models.ActionAuditExported, Detail: detail})
	if err != nil {
		return err
	}
	q.BeforeSeq = ev.Seq
	t, err := models.ExportAudit(ctx, db.Read, stdout, format, q, models.ExportOptions{})
	end := map[string]string{
		"export": strconv.FormatInt(ev.Seq, 10), "format": format,
		"count": strconv.FormatInt(t.Count, 10), "last_seq": strconv.FormatInt(t.LastSeq, 10),
	}
	action := models.ActionAuditExportFinished
	if err != nil {
		action, end["error"] = models.ActionAuditExportCut, err.Error()
	}
	_, rerr := models.AppendAudit(context.WithoutCancel(ctx), db.Write, models.AuditEntry{At: time.Now(), Actor: by, Action: action, Detail: end})
	if err != nil {
		return fmt.Errorf("export cut after %d events (the last seq %d; resume with --after %d): %w", t.Count, t.LastSeq, max(t.LastSeq, q.AfterSeq), err)
	}
	if rerr != nil {
		return fmt.Errorf("export written whole, but its end not recorded: %w", rerr)
	}
	return nil
}

// auditCheckExport checks an export file (CheckExport) and says what it
// holds.
func auditCheckExport(args []string, stdout io.Writer) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return errors.New("usage: gatehouse audit check-export FILE")
	}
	name := args[0]
	f, err := os.Open(name) // #nosec G304 G703 -- the operator names the export file on the command line; it is only read
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := models.CheckExport(f)
	if err != nil {
		return fmt.Errorf("%s: NOT a whole, unaltered export: %w", name, err)
	}
	t := res.Trailer
	kind := "unfiltered: every event"
	if t.Filtered {
		kind = "filtered: each event's hash checked"
	}
	fmt.Fprintf(stdout, "%s: export OK (%s, %s): %d events", name, res.Format, kind, t.Count)
	if t.Count > 0 {
		fmt.Fprintf(stdout, " from seq %d to %d, last hash %s", res.FirstSeq, t.LastSeq, t.LastHash)
	}
	fmt.Fprintf(stdout, "; seq > %d and < %d\n", t.After, t.Before)
	return nil
}

// cliActor is the operator running a command, as the audit log names them.
func cliActor() models.Actor {
	by := models.Actor{Email: "cli", Tier: "system"}
	if u, err := user.Current(); err == nil {
		by.Email = "cli:" + u.Username
	}
	return by
}
