package cli

import (
	"strings"
	"testing"
)

func TestCreateMsgFromFlags(t *testing.T) {
	const owner = "open1owner"
	cmd := NewCreateDatanetCmd()
	if err := cmd.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	msg, err := createMsgFromFlags(cmd, owner, "proverbs", "CC-BY-4.0")
	if err != nil {
		t.Fatal(err)
	}
	// Defaults: the owner curates alone, quorum 1, 100-block window, 1000uopen deposit.
	if msg.Owner != owner || msg.Name != "proverbs" || msg.License != "CC-BY-4.0" ||
		len(msg.Curation.Curators) != 1 || msg.Curation.Curators[0] != owner || msg.Curation.ApprovalQuorum != 1 ||
		msg.Curation.ReviewWindowBlocks != 100 || msg.ContributionDeposit.String() != "1000uopen" ||
		msg.Requirements.MinAcceptedContributions != 1 || msg.Requirements.MinDistinctContributors != 1 || msg.Requirements.MinAcceptedBytes != 0 {
		t.Fatalf("default msg %+v", msg)
	}

	cmd = NewCreateDatanetCmd()
	if err := cmd.ParseFlags([]string{
		"--description", "short proverbs", "--metadata-cid", "bafkqaaa", "--tags", "text,en",
		"--curators", "open1a,open1b", "--quorum", "2", "--review-window", "50", "--deposit", " 2500uopen ",
		"--min-contributions", "3", "--min-contributors", "2", "--min-bytes", "1024",
	}); err != nil {
		t.Fatal(err)
	}
	msg, err = createMsgFromFlags(cmd, owner, "n", "MIT")
	if err != nil {
		t.Fatal(err)
	}
	if msg.Description != "short proverbs" || msg.MetadataCid != "bafkqaaa" || strings.Join(msg.Tags, "|") != "text|en" ||
		strings.Join(msg.Curation.Curators, "|") != "open1a|open1b" || msg.Curation.ApprovalQuorum != 2 ||
		msg.Curation.ReviewWindowBlocks != 50 || msg.ContributionDeposit.String() != "2500uopen" ||
		msg.Requirements.MinAcceptedContributions != 3 || msg.Requirements.MinDistinctContributors != 2 || msg.Requirements.MinAcceptedBytes != 1024 {
		t.Fatalf("msg %+v", msg)
	}

	cmd = NewCreateDatanetCmd()
	if err := cmd.ParseFlags([]string{"--deposit", "a lot"}); err != nil {
		t.Fatal(err)
	}
	if _, err := createMsgFromFlags(cmd, owner, "n", "MIT"); err == nil || !strings.Contains(err.Error(), "--deposit") {
		t.Fatalf("bad deposit: %v", err)
	}
}
