// Command envvars prints the SENSORNODE_* environment variables each
// service reads, found from its source the way the deploy tests find them.
//
//	go run ./tools/deploycheck/cmd/envvars [service...]
package main

import (
	"fmt"
	"os"
	"sort"

	"github.com/sensornode/sensornode/tools/deploycheck"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "envvars:", err)
		os.Exit(1)
	}
}

func run(services []string) error {
	root, err := deploycheck.RepoRoot()
	if err != nil {
		return err
	}
	if len(services) == 0 {
		services = deploycheck.Services
	}
	for _, s := range services {
		vars, configs, unresolved, err := deploycheck.ServiceEnv(root, s)
		if err != nil {
			return err
		}
		fmt.Printf("# %s (configs: %v)\n", s, configs)
		for _, u := range unresolved {
			fmt.Printf("#   unresolved: %s\n", u)
		}
		names := make([]string, 0, len(vars))
		for n := range vars {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			v := vars[n]
			req := ""
			if v.Required {
				req = " required"
			}
			fmt.Printf("%s\t%s\tdefault=%q%s\n", n, v.Type, v.Default, req)
		}
	}
	return nil
}
