package permtest

import (
	"os"
	"strings"
	"testing"
)

// TestDocsHoldPerms keeps docs/operations.md's permission sets equal to
// the ones these tests run.
func TestDocsHoldPerms(t *testing.T) {
	t.Parallel()
	perms, err := os.ReadFile("perms.conf")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```\n"+string(perms)+"```\n") {
		t.Fatal("docs/operations.md (section Permissions) does not hold permtest/perms.conf as it is: copy it there")
	}
}
