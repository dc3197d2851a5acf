package httpapi

import "testing"

func TestPagination(t *testing.T) {
	link := PageLink("/v1/videos", 20, map[string]string{"status": "failed", "createdAfter": ""})
	if got := link(""); got != "/v1/videos?limit=20&status=failed" {
		t.Errorf("first: %s", got)
	}
	p := Paginate(20, "vid_a", "vid_b", link)
	if p.Self != "/v1/videos?cursor=vid_a&limit=20&status=failed" || p.Next == nil || *p.Next != "/v1/videos?cursor=vid_b&limit=20&status=failed" {
		t.Errorf("%+v", p)
	}
	if p := Paginate(20, "", "", link); p.Next != nil || p.Self != p.First {
		t.Errorf("last page: %+v", p)
	}
}
