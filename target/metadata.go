package target

import "time"

// metaCols are the positions of the metadata columns in a layout's table,
// found by name. The order of metadataColumns therefore decides only the
// order of the columns in the table, never which value goes where. -1
// marks a column the table does not have (add_metadata_columns is off).
type metaCols struct {
	extractedAt  int // _sdc_extracted_at: the record's time_extracted
	receivedAt   int // _sdc_received_at: when the target read the record
	batchedAt    int // _sdc_batched_at: when its batch went to the loader
	sequence     int // _sdc_sequence: the record's number, increasing across runs
	tableVersion int // _sdc_table_version: the record's version
}

// findMetaCols returns the positions of the metadata columns among cols.
func findMetaCols(cols []Column) metaCols {
	m := metaCols{-1, -1, -1, -1, -1}
	for i, c := range cols {
		if p := m.slot(c.Name); p != nil {
			*p = i
		}
	}
	return m
}

// slot returns the field that holds the position of the metadata column
// name, or nil when name is not one.
func (m *metaCols) slot(name string) *int {
	switch name {
	case colExtractedAt:
		return &m.extractedAt
	case colReceivedAt:
		return &m.receivedAt
	case colBatchedAt:
		return &m.batchedAt
	case colSequence:
		return &m.sequence
	case colTableVersion:
		return &m.tableVersion
	}
	return nil
}

// present reports whether the table has metadata columns.
func (m metaCols) present() bool {
	return max(m.extractedAt, m.receivedAt, m.batchedAt, m.sequence, m.tableVersion) >= 0
}

// stampRecord writes the metadata of one record into its row: when it was
// extracted (if the tap said), received, its number and its version (if
// any). _sdc_batched_at waits for stampBatch.
func (m metaCols) stampRecord(row []any, extracted, received time.Time, seq int64, version *int64) {
	if m.extractedAt >= 0 && !extracted.IsZero() {
		row[m.extractedAt] = extracted
	}
	if m.receivedAt >= 0 {
		row[m.receivedAt] = received
	}
	if m.sequence >= 0 {
		row[m.sequence] = seq
	}
	if m.tableVersion >= 0 && version != nil {
		row[m.tableVersion] = *version
	}
}

// stampBatch writes _sdc_batched_at into every row of a batch.
func (m metaCols) stampBatch(rows [][]any, at time.Time) {
	if m.batchedAt < 0 {
		return
	}
	for _, row := range rows {
		row[m.batchedAt] = at
	}
}
