package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"

	wx "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// resetTowns removes what an earlier run left on the shared PostgreSQL and
// Kafka for the layout's towns — both runs' databases and roles, the
// towns' topics — so that every run provisions "from nothing". Without it
// the two runs did different work: the baseline found the topics the
// operator's run had just created (both use the towns' topic names) and
// only read their metadata, and repeated runs ran on a Kafka and a
// PostgreSQL filling up with earlier runs' towns.
func resetTowns(ctx context.Context, l layout) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	start := time.Now()
	var towns []string
	for i := range l.Towns {
		towns = append(towns, townName(i))
	}
	if err := dropDatabases(ctx, towns); err != nil {
		return err
	}
	if err := deleteTopics(ctx, towns); err != nil {
		return err
	}
	logf("reset: databases, roles and topics of %d towns removed in %.1fs", len(towns), time.Since(start).Seconds())
	return nil
}

// dropDatabases drops the operator's (wuxiao_<town>) and the baseline's
// (wuxiao_base_<town>) database of each town and their roles.
func dropDatabases(ctx context.Context, towns []string) error {
	u, err := url.Parse(os.Getenv("WUXIAO_TEST_POSTGRES_URL"))
	if err != nil || u.Host == "" {
		return fmt.Errorf("WUXIAO_TEST_POSTGRES_URL: %q is not a PostgreSQL URL: run through hack/bench-scale.sh", os.Getenv("WUXIAO_TEST_POSTGRES_URL"))
	}
	u.Path = "/postgres"
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return fmt.Errorf("reset: PostgreSQL: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	for _, t := range towns {
		// The operator names them as provision.TownDatabase and
		// ServiceRole do (the bench's town names are short, so no hash).
		for _, owner := range []string{"wuxiao_" + t, "wuxiao_base_" + t} {
			stmts := []string{"DROP DATABASE IF EXISTS " + pgx.Identifier{owner}.Sanitize() + " WITH (FORCE)"}
			for _, r := range append([]string{owner}, serviceRoles(owner)...) {
				stmts = append(stmts, "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize())
			}
			for _, st := range stmts {
				if _, err := conn.Exec(ctx, st); err != nil {
					return fmt.Errorf("reset: %s: %w", st, err)
				}
			}
		}
	}
	return nil
}

func serviceRoles(owner string) []string {
	var roles []string
	for _, svc := range wx.AllServices {
		roles = append(roles, owner+"_"+string(svc))
	}
	return roles
}

// deleteTopics deletes the towns' topics and waits until the broker no
// longer lists them, so that a create right after is a create.
func deleteTopics(ctx context.Context, towns []string) error {
	brokers := strings.Split(os.Getenv("WUXIAO_TEST_KAFKA_BROKERS"), ",")
	var topics []string
	for _, t := range towns {
		topics = append(topics, townTopicNames(t)...)
	}
	c, done := topicClient(brokers, topics, 30*time.Second)
	res, err := c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
	done()
	if err != nil {
		return fmt.Errorf("reset: deleting topics: %w", err)
	}
	for t, err := range res.Errors {
		if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
			return fmt.Errorf("reset: deleting topic %s: %w", t, err)
		}
	}
	err = pollTopics(ctx, brokers, topics, func(m []kafka.Topic) bool {
		for _, t := range m {
			if !errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("reset: topics still listed after deletion: %w", err)
	}
	return nil
}
