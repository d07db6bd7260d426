// Command pgconns measures what a running district holds of PostgreSQL's
// connections at rest (issue 18: the whole 12-town district ≤ 50% of
// max_connections). It samples pg_stat_activity (as the admin) every
// -every for -for, takes each town database's and each other database's
// highest count, and projects the town figure to -towns towns:
//
//	projected = mean per town × towns + everything else (Kratos, the operator, …)
//
// and prints it against -limit × max_connections (the 100 unless
// -max-connections is 0: the server's own setting). Connections of other
// databases (the tests' t_* ones) are left out. See hack/bench/README.md.
//
//	go run ./hack/bench/pgconns -url "$ADMIN_URL" -for 2m
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	url := flag.String("url", os.Getenv("WUXIAO_TEST_POSTGRES_URL"), "PostgreSQL admin URL (default $WUXIAO_TEST_POSTGRES_URL)")
	towns := flag.Int("towns", 12, "towns to project to")
	dur := flag.Duration("for", time.Minute, "how long to sample")
	every := flag.Duration("every", 5*time.Second, "sampling interval")
	maxConns := flag.Int("max-connections", 100, "max_connections to compare with (0: the server's)")
	limit := flag.Float64("limit", 0.5, "share of max_connections allowed at rest")
	flag.Parse()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, *url)
	if err != nil {
		fail(err)
	}
	defer conn.Close(ctx)
	if *maxConns == 0 {
		if err := conn.QueryRow(ctx, `SELECT current_setting('max_connections')::int`).Scan(maxConns); err != nil {
			fail(err)
		}
	}
	// highest count per database and application over the samples
	type key struct{ db, app, user string }
	peak := map[key]int{}
	dbPeak := map[string]int{}
	dbSum := map[string]int{} // for the mean: short-lived connections (a probe's, a poll's) show there
	samples := 0
	for end := time.Now().Add(*dur); ; {
		rows, err := conn.Query(ctx, `SELECT coalesce(datname, ''), coalesce(application_name, ''), coalesce(usename, ''), count(*)
			FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 1, 2, 3`)
		if err != nil {
			fail(err)
		}
		perDB := map[string]int{}
		for rows.Next() {
			var k key
			var n int
			if err := rows.Scan(&k.db, &k.app, &k.user, &n); err != nil {
				fail(err)
			}
			if strings.HasPrefix(k.db, "t_") { // the tests' databases
				continue
			}
			peak[k] = max(peak[k], n)
			perDB[k.db] += n
		}
		if err := rows.Err(); err != nil {
			fail(err)
		}
		for db, n := range perDB {
			dbPeak[db] = max(dbPeak[db], n)
			dbSum[db] += n
		}
		samples++
		if time.Now().After(end) {
			break
		}
		time.Sleep(*every)
	}
	keys := make([]key, 0, len(peak))
	for k := range peak {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].db != keys[j].db {
			return keys[i].db < keys[j].db
		}
		return keys[i].user < keys[j].user
	})
	fmt.Printf("%d samples over %s; highest count per database, application and role:\n\n", samples, *dur)
	fmt.Println("| database | application | role | connections |")
	fmt.Println("|---|---|---|---|")
	for _, k := range keys {
		fmt.Printf("| %s | %s | %s | %d |\n", k.db, k.app, k.user, peak[k])
	}
	townDBs, townSum, other, townSamples := 0, 0, 0, 0
	for db, n := range dbPeak {
		if isTown(db) {
			townDBs++
			townSum += n
			townSamples += dbSum[db]
		} else {
			other += n
		}
	}
	fmt.Println()
	if townDBs == 0 {
		fmt.Println("no town database (wuxiao_<town>) found")
		return
	}
	perTown := float64(townSum) / float64(townDBs)
	projected := perTown*float64(*towns) + float64(other)
	allowed := *limit * float64(*maxConns)
	met := "not met"
	if projected <= allowed {
		met = "met"
	}
	fmt.Printf("measured: %d town(s), %.1f connections per town at their highest (%.2f on average over the samples), %d outside the towns\n",
		townDBs, perTown, float64(townSamples)/float64(townDBs*samples), other)
	fmt.Printf("projected: %d towns × %.1f + %d = %.0f of max_connections %d (%.0f%%; limit %.0f%%): %s\n",
		*towns, perTown, other, projected, *maxConns, 100*projected/float64(*maxConns), 100**limit, met)
}

// isTown: the operator names a town's database wuxiao_<town>; Kratos'
// is wuxiao_kratos.
func isTown(db string) bool {
	return strings.HasPrefix(db, "wuxiao_") && db != "wuxiao_kratos"
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "pgconns:", err)
	os.Exit(1)
}
