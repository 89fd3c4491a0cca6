package blob

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// MaxResults is the largest page of List Blobs (Azure's).
const MaxResults = 5000

// listEntry is a blob or, with a delimiter, a virtual folder.
type listEntry struct {
	prefix string // the folder's name with its delimiter; "" for a blob
	blob   *Props
}

// listPage picks one page of a container's blobs (sorted by name):
// those under prefix from the name marker on, at most max entries, with
// the names that share a folder below prefix (up to delim) rolled into
// one entry. next is where the following page starts ("" at the end).
func listPage(blobs []Props, prefix, delim, marker string, max int) (page []listEntry, next string) {
	i, _ := slices.BinarySearchFunc(blobs, max2(prefix, marker), func(p Props, s string) int { return strings.Compare(p.Name, s) })
	lastPrefix := ""
	for ; i < len(blobs); i++ {
		name := blobs[i].Name
		if !strings.HasPrefix(name, prefix) {
			break // sorted: nothing further is under prefix
		}
		e := listEntry{blob: &blobs[i]}
		if delim != "" {
			if j := strings.Index(name[len(prefix):], delim); j >= 0 {
				e = listEntry{prefix: name[:len(prefix)+j+len(delim)]}
				if e.prefix == lastPrefix {
					continue
				}
				lastPrefix = e.prefix
			}
		}
		if len(page) == max {
			return page, name
		}
		page = append(page, e)
	}
	return page, ""
}

func max2(a, b string) string {
	if a > b {
		return a
	}
	return b
}

// The List Blobs response, Azure's XML.
type enumerationResults struct {
	XMLName         xml.Name    `xml:"EnumerationResults"`
	ServiceEndpoint string      `xml:"ServiceEndpoint,attr"`
	ContainerName   string      `xml:"ContainerName,attr"`
	Prefix          string      `xml:"Prefix,omitempty"`
	Marker          string      `xml:"Marker,omitempty"`
	MaxResults      int         `xml:"MaxResults,omitempty"`
	Delimiter       string      `xml:"Delimiter,omitempty"`
	Blobs           listSegment `xml:"Blobs"`
	NextMarker      string      `xml:"NextMarker"`
}

// listSegment holds the entries in name order, each named by its XMLName.
type listSegment struct{ Items []listItem }

// listItem is a <Blob> or a <BlobPrefix>, by its XMLName.
type listItem struct {
	XMLName    xml.Name
	Name       string       `xml:"Name"`
	Properties *listProps   `xml:"Properties,omitempty"`
	Metadata   *xmlMetadata `xml:"Metadata,omitempty"`
}

type listProps struct {
	CreationTime  string `xml:"Creation-Time"`
	LastModified  string `xml:"Last-Modified"`
	ETag          string `xml:"Etag"`
	ContentLength int64  `xml:"Content-Length"`
	ContentType   string `xml:"Content-Type"`
	ContentMD5    string `xml:"Content-MD5,omitempty"`
	BlobType      string `xml:"BlobType"`
	LeaseStatus   string `xml:"LeaseStatus"`
	LeaseState    string `xml:"LeaseState"`
}

// xmlMetadata is <Metadata><name>value</name>…</Metadata>.
type xmlMetadata map[string]string

func (m xmlMetadata) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if err := e.EncodeElement(m[k], xml.StartElement{Name: xml.Name{Local: k}}); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// includes are List Blobs' include= values: metadata is shown; the others
// name things this service never has (snapshots, versions, soft-deleted
// blobs, tags, copies), so they add nothing. uncommittedblobs is refused:
// blobs with only uncommitted blocks are not listed.
var includes = []string{"metadata", "snapshots", "versions", "deleted", "tags", "copy", "immutabilitypolicy", "legalhold", "deletedwithversions", "permissions"}

func (s *Service) listBlobs(w http.ResponseWriter, r *http.Request, req *request, account string) error {
	q := req.query
	max := MaxResults
	if v := q.Get("maxresults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxResults {
			return newError(http.StatusBadRequest, "OutOfRangeQueryParameterValue", "maxresults '%s' must be 1–%d.", printable(v), MaxResults)
		}
		max = n
	}
	withMetadata := false
	if v := q.Get("include"); v != "" {
		for inc := range strings.SplitSeq(v, ",") {
			if !slices.Contains(includes, strings.ToLower(inc)) {
				return newError(http.StatusBadRequest, "InvalidQueryParameterValue", "include=%s is not served.", printable(inc))
			}
			withMetadata = withMetadata || strings.EqualFold(inc, "metadata")
		}
	}
	marker := ""
	if v := q.Get("marker"); v != "" {
		m, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			return newError(http.StatusBadRequest, "InvalidQueryParameterValue", "marker '%s' is not one this service gave as NextMarker.", printable(v))
		}
		marker = string(m)
	}
	blobs, err := s.disk.list(r.Context(), account, req.container)
	if err != nil {
		return err
	}
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	page, next := listPage(blobs, prefix, delim, marker, max)
	out := enumerationResults{ServiceEndpoint: "https://" + r.Host + "/" + req.account + "/", ContainerName: req.container,
		Prefix: prefix, Marker: q.Get("marker"), MaxResults: max, Delimiter: delim}
	if q.Get("maxresults") == "" {
		out.MaxResults = 0
	}
	if next != "" {
		out.NextMarker = base64.RawURLEncoding.EncodeToString([]byte(next))
	}
	for _, e := range page {
		if e.blob == nil {
			out.Blobs.Items = append(out.Blobs.Items, listItem{XMLName: xml.Name{Local: "BlobPrefix"}, Name: e.prefix})
			continue
		}
		p := e.blob
		it := listItem{XMLName: xml.Name{Local: "Blob"}, Name: p.Name, Properties: &listProps{
			CreationTime: p.Created.UTC().Format(http.TimeFormat), LastModified: p.Modified.UTC().Format(http.TimeFormat),
			ETag: p.ETag, ContentLength: p.Size, ContentType: p.ContentType, BlobType: "BlockBlob", LeaseStatus: "unlocked", LeaseState: "available"}}
		if p.ContentMD5 != nil {
			it.Properties.ContentMD5 = base64.StdEncoding.EncodeToString(p.ContentMD5)
		}
		if withMetadata {
			md := xmlMetadata(p.Metadata)
			if md == nil {
				md = xmlMetadata{}
			}
			it.Metadata = &md
		}
		out.Blobs.Items = append(out.Blobs.Items, it)
	}
	body, err := xml.Marshal(out)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(xml.Header))
	w.Write(body)
	return nil
}

// decodeBlockList reads the entries of a Put Block List body in order.
func decodeBlockList(r io.Reader) ([]blockListItem, error) {
	d := xml.NewDecoder(r)
	var items []blockListItem
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if depth != 0 {
				return nil, errNotBlockList("it ends early")
			}
			return items, nil
		}
		if err != nil {
			return nil, errNotBlockList(err.Error())
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && t.Name.Local != "BlockList":
				return nil, errNotBlockList("its root element is " + t.Name.Local + ", not BlockList")
			case depth == 2:
				if t.Name.Local != "Latest" && t.Name.Local != "Uncommitted" && t.Name.Local != "Committed" {
					return nil, errNotBlockList("it holds " + t.Name.Local + "; a block list holds Latest, Uncommitted and Committed")
				}
				var id string
				if err := d.DecodeElement(&id, &t); err != nil {
					return nil, errNotBlockList(err.Error())
				}
				depth--
				items = append(items, blockListItem{kind: t.Name.Local, id: strings.TrimSpace(id)})
			case depth > 2:
				return nil, errNotBlockList("it nests elements")
			}
		case xml.EndElement:
			depth--
		}
	}
}
