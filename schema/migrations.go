package schema

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

//go:embed migrations/*.sql
var defaultMigrations embed.FS

// Migration is one SQL file applied, in name order, to every new sandbox schema.
type Migration struct {
	Name string
	SQL  string
}

// Migrations is an ordered set of migrations and the version it stands for.
type Migrations struct {
	List []Migration
	// Version is "<last file name>@<sha256 of every name and body, 12 hex digits>", so
	// two sandboxes with the same version have byte-identical migrations.
	Version string
}

// DefaultMigrations are the bot's tenant tables (communities, profiles, badges) embedded
// in gaib.
func DefaultMigrations() Migrations {
	m, err := load(defaultMigrations, "migrations")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	return m
}

// LoadMigrations reads the *.sql files of dir (the application's own migrations), so that
// sandboxes never drift from production.
func LoadMigrations(dir string) (Migrations, error) {
	m, err := load(os.DirFS(dir), ".")
	if err != nil {
		return m, fmt.Errorf("schema migrations in %s: %w", dir, err)
	}
	if len(m.List) == 0 {
		return m, fmt.Errorf("schema migrations: no .sql files in %s", dir)
	}
	return m, nil
}

func load(fsys fs.FS, dir string) (Migrations, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return Migrations{}, err
	}
	var m Migrations
	h := sha256.New()
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return m, err
		}
		m.List = append(m.List, Migration{Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(m.List, func(i, j int) bool { return m.List[i].Name < m.List[j].Name })
	for _, mg := range m.List {
		fmt.Fprintf(h, "%s\x00%s\x00", mg.Name, mg.SQL)
	}
	if len(m.List) > 0 {
		last := strings.TrimSuffix(m.List[len(m.List)-1].Name, ".sql")
		m.Version = last + "@" + hex.EncodeToString(h.Sum(nil))[:12]
	}
	return m, nil
}
