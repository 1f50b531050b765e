// Package profiles carries the device profiles sgbridge ships, so the
// binary has the seed grabber's default profile even when nothing is
// installed under /etc/sgbridge.
package profiles

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.toml
var files embed.FS

// DefaultName is the profile used when --profile is not given.
const DefaultName = "sgrab.toml"

// Default returns the text of the seed grabber's profile.
func Default() []byte {
	b, err := files.ReadFile(DefaultName)
	if err != nil {
		panic("profiles: " + DefaultName + " not embedded: " + err.Error()) // a build error, not a runtime one
	}
	return b
}

// Names lists the embedded profiles, sorted.
func Names() []string {
	ents, _ := fs.ReadDir(files, ".")
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".toml") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// Read returns the embedded profile name.
func Read(name string) ([]byte, error) { return files.ReadFile(name) }
