package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"securetrain/internal/arm"
)

// A job's logs are written on the machine of the replica that runs its
// processes. When the run ends, or that replica stops running it (its
// lease lost, the server stopping), they are also put into the job's
// workspace's blob datastore at Azure ML's path for a run's logs, so
// that every replica serves them once the job has ended.

// LogsFolder is where a job's logs are kept in its workspace's blob
// datastore: azureml/ExperimentRun/dcid.{job name}/user_logs.
func LogsFolder(jobID string) (string, error) {
	id, err := arm.ParseID(jobID, "")
	if err != nil {
		return "", fmt.Errorf("job %s: %w", jobID, err)
	}
	return "azureml/ExperimentRun/dcid." + id.Leaf() + "/user_logs", nil
}

// OutputsFolder is where a job's outputs are kept in its workspace's blob
// datastore: Azure ML's default output path, azureml/{job name}, one
// folder per output below it.
func OutputsFolder(jobID string) (string, error) {
	id, err := arm.ParseID(jobID, "")
	if err != nil {
		return "", fmt.Errorf("job %s: %w", jobID, err)
	}
	return "azureml/" + id.Leaf(), nil
}

// uploadLogs puts the job's log files into its workspace's datastore
// (nothing when the server keeps no blobs or the workspace has no
// storage account).
func (s *Scheduler) uploadLogs(ctx context.Context, jobID string) error {
	if s.cfg.Datastore == nil {
		return nil
	}
	folder, err := LogsFolder(jobID)
	if err != nil {
		return err
	}
	id, _ := arm.ParseID(jobID, "")
	ws, _ := id.Parent()
	for _, name := range s.Logs(jobID) {
		path := filepath.Join(s.logDir(jobID), name)
		err := s.putFile(ctx, ws, folder+"/"+name, func() (*os.File, error) { return os.Open(path) })
		if errors.Is(err, ErrNoStorage) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("keep log %s in the workspace's storage: %w", name, err)
		}
	}
	return nil
}

// keepLogs is uploadLogs of a run that ended, logging a failure: the
// job's status does not depend on it.
func (s *Scheduler) keepLogs(ctx context.Context, jobID string) {
	if err := s.uploadLogs(ctx, jobID); err != nil {
		s.cfg.Log.Warn("jobs: logs kept on this machine only", "job", jobID, "err", err)
	}
}
