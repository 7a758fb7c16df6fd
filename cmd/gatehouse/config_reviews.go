package main

import (
	"fmt"
	"strings"

	"gatehouse/models"
)

// parseAccessReviews reads how often the periodic access review opens:
// quarterly unless GATEHOUSE_ACCESS_REVIEW_EVERY says monthly or yearly.
func (c *Config) parseAccessReviews(env map[string]string) []string {
	c.AccessReviews = models.ReviewQuarterly
	raw := strings.ToLower(strings.TrimSpace(env["GATEHOUSE_ACCESS_REVIEW_EVERY"]))
	if raw == "" {
		return nil
	}
	every, err := models.ParseReviewEvery(raw)
	if err != nil {
		return []string{fmt.Sprintf("GATEHOUSE_ACCESS_REVIEW_EVERY=%s: want quarterly, monthly or yearly", raw)}
	}
	c.AccessReviews = every
	return nil
}
