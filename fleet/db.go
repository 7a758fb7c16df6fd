package fleet

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
)

// postgresURL is the GATEHOUSE_TEST_PG server; without it the test skips,
// or fails under GATEHOUSE_TEST_ALL=1.
func postgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("GATEHOUSE_TEST_PG")
	if u == "" {
		if os.Getenv("GATEHOUSE_TEST_ALL") == "1" {
			t.Fatal("GATEHOUSE_TEST_PG is not set and GATEHOUSE_TEST_ALL=1: the fleet tests must run")
		}
		t.Skip("fleet test skipped: set GATEHOUSE_TEST_PG=postgres://postgres@127.0.0.1:5432/postgres to run it")
	}
	return u
}

// databases are a fleet's two databases and its role, with the URL of
// each database for the owner and for the role.
type databases struct {
	role                      string
	ownerPortal, ownerProduct string
	rolePortal, roleProduct   string
}

// createDatabases creates the portal and product databases and the
// restricted login role (no rights yet), and drops them all when the test
// ends, connections and all.
func createDatabases(t testing.TB, server string) databases {
	t.Helper()
	admin, err := models.Open(context.Background(), server)
	if err != nil {
		t.Fatalf("GATEHOUSE_TEST_PG: %v", err)
	}
	b := make([]byte, 5)
	rand.Read(b)
	name := "gh_fleet_" + hex.EncodeToString(b)
	d := databases{role: name + "_portal"}
	portal, product := name, name+"_product"
	t.Cleanup(func() {
		defer admin.Close()
		// The server may be restarting (an outage test, or another's):
		// keep trying for a while rather than leave the databases behind.
		for _, q := range []string{
			"DROP DATABASE IF EXISTS " + portal + " WITH (FORCE)",
			"DROP DATABASE IF EXISTS " + product + " WITH (FORCE)",
			"DROP ROLE IF EXISTS " + d.role,
		} {
			var err error
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Second) {
				if err = admin.Write.Exec(q).Error; err == nil || time.Now().After(deadline) {
					break
				}
			}
			if err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	for _, q := range []string{"CREATE DATABASE " + portal, "CREATE DATABASE " + product, "CREATE ROLE " + d.role + " LOGIN"} {
		if err := admin.Write.Exec(q).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	at := func(user *url.Userinfo, db string) string {
		c := *u
		c.User, c.Path = user, "/"+db
		return c.String()
	}
	d.ownerPortal, d.ownerProduct = at(u.User, portal), at(u.User, product)
	d.rolePortal, d.roleProduct = at(url.User(d.role), portal), at(url.User(d.role), product)
	return d
}

// grantREADME gives role the rights README.md lists for the portal's
// role, and nothing else: the statements of its "-- the portal database"
// and "-- the product database" blocks, the latter's ws_<slug> lines once
// per workspace schema there is.
func grantREADME(ctx context.Context, portal, product *models.DB, role string) error {
	blocks, err := readmeGrants()
	if err != nil {
		return err
	}
	var schemas []string
	if err := product.Read.WithContext(ctx).Raw("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'ws\\_%' ORDER BY nspname").Scan(&schemas).Error; err != nil {
		return err
	}
	for _, g := range []struct {
		db    *models.DB
		block string
	}{{portal, "-- the portal database"}, {product, "-- the product database"}} {
		stmts := blocks[g.block]
		if len(stmts) == 0 {
			return fmt.Errorf("README.md has no sql block starting %q", g.block)
		}
		for _, stmt := range stmts {
			stmt = strings.Replace(stmt, " TO portal;", ` TO "`+role+`";`, 1)
			each := []string{stmt}
			if strings.Contains(stmt, "ws_<slug>") {
				each = nil
				for _, s := range schemas {
					each = append(each, strings.ReplaceAll(stmt, "ws_<slug>", `"`+s+`"`))
				}
			}
			for _, q := range each {
				if err := g.db.Write.WithContext(ctx).Exec(q).Error; err != nil {
					return fmt.Errorf("README grant %q: %w", q, err)
				}
			}
		}
	}
	return nil
}

// grantBlocks are the first lines of README.md's sql blocks of grants;
// its other sql blocks (the indexes the product creates) are not read.
var grantBlocks = map[string]bool{"-- the portal database": true, "-- the product database": true}

// readmeGrants reads README.md's sql blocks of grants: each block's
// statements (one a line, comments left out), by the block's first line.
func readmeGrants() (map[string][]string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), "README.md"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	blocks := map[string][]string{}
	var name string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "```sql":
			in, name = true, ""
		case in && line == "```":
			in = false
		case in && name == "":
			name = line
		case in && line != "" && !strings.HasPrefix(line, "--") && grantBlocks[name]:
			if !strings.HasPrefix(line, "GRANT ") || !strings.HasSuffix(line, " TO portal;") {
				return nil, fmt.Errorf("README.md grant %q: want one GRANT … TO portal; a line", line)
			}
			blocks[name] = append(blocks[name], line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if in {
		return nil, errors.New("README.md: an sql block is not closed")
	}
	return blocks, nil
}
