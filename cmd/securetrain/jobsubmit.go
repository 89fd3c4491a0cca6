package main

import (
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"securetrain/internal/jobfile"
)

// jobTarget submits job files to the command's workspace through the
// server, as the CLI's principal: ARM requests with the CLI's client,
// local code and inputs with the unmodified azblob client on the
// server's Blob service.
func (c *computeCmd) jobTarget() jobfile.Target {
	return jobfile.Target{
		Workspace: c.workspaceID(),
		Do: func(method, id string, body []byte) ([]byte, error) {
			resp, err := c.srv.do(method, id, body)
			if err != nil {
				return nil, err
			}
			return resp.body, nil
		},
		Blob: func(account string) (*azblob.Client, string, error) {
			serviceURL := c.srv.base.String() + "/" + account
			client, err := azblob.NewClient(serviceURL, jobfile.Token(c.srv.token), &azblob.ClientOptions{ClientOptions: policy.ClientOptions{
				Transport: c.srv.http,
				// Plain HTTP only when the user chose it (serve
				// --insecure-http): the token crosses it as it does for
				// every other request.
				InsecureAllowCredentialWithHTTP: c.srv.base.Scheme == "http",
			}})
			if err != nil {
				return nil, "", fmt.Errorf("blob client for %s: %w", serviceURL, err)
			}
			return client, serviceURL, nil
		},
	}
}
