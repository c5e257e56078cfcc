package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Set at build time, e.g.
//
//	go build -ldflags "-X main.version=v1.4.0 -X main.commit=$(git rev-parse HEAD) -X main.buildTime=$(date -u +%FT%TZ)"
//
// Unset, they come from the module and VCS information Go records in the
// binary (runtime/debug.ReadBuildInfo).
var (
	version   string
	commit    string
	buildTime string
)

// buildVersion is the version, commit and build time, each "unknown" when
// neither set at build time nor recorded by Go (which records the commit's
// time, not the build's); modified reports a commit built with local
// changes.
func buildVersion() (ver, rev, built string, modified bool) {
	ver, rev, built = version, commit, buildTime
	if info, ok := debug.ReadBuildInfo(); ok {
		if ver == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			ver = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.time":
				if built == "" {
					built = s.Value + " (the commit's time)"
				}
			case "vcs.modified":
				// Only about the recorded revision, not one set with -X.
				modified = commit == "" && s.Value == "true"
			}
		}
	}
	if ver == "" {
		ver = "(devel)"
	}
	if rev == "" {
		rev = "unknown"
	}
	if built == "" {
		built = "unknown"
	}
	return ver, rev, built, modified
}

// printVersion writes `usermanager version`'s output. It reads no
// configuration and opens nothing.
func printVersion(w io.Writer) {
	ver, rev, built, modified := buildVersion()
	if modified {
		rev += " (modified)"
	}
	fmt.Fprintf(w, "usermanager %s\ncommit:     %s\nbuilt:      %s\ngo:         %s %s/%s\n",
		ver, rev, built, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
