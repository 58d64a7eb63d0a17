// Package hdfsjmx reads beans from the JMX JSON servlet of an HDFS daemon
// (http://<http address>/jmx?qry=<bean>), as the NameNode serves them:
// the devstack's health check reads safe mode and the DataNodes from it,
// the load test the NameNode's object counts.
package hdfsjmx

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// Bean decodes the first bean the query names into v (a struct whose
// fields are the bean's attributes, for example FilesTotal). httpAddr is
// the daemon's HTTP address, host:port.
func Bean(ctx context.Context, client *http.Client, httpAddr, query string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/jmx?qry="+query, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("jmx %s: %w", query, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("jmx %s: %s", query, resp.Status)
	}
	var body struct {
		Beans []json.RawMessage `json:"beans"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("jmx %s: %w", query, err)
	}
	if len(body.Beans) == 0 {
		return fmt.Errorf("jmx %s: no bean", query)
	}
	if err := json.Unmarshal(body.Beans[0], v); err != nil {
		return fmt.Errorf("jmx %s: %w", query, err)
	}
	return nil
}
