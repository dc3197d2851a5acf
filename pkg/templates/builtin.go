package templates

import "encoding/json"

// BuiltIn returns the templates every workspace can use. A fresh slice each
// call: callers may filter or annotate it without touching the next caller's.
func BuiltIn() []Template {
	return []Template{
		{
			ID:          "tpl_title_card",
			Name:        "Title card",
			Description: "A bold title and subtitle on a diagonal gradient: intros, chapter cards, announcements.",
			Category:    "intro",
			Orientation: Landscape,
			Variables: []Variable{
				{Name: "title", Type: TypeString, Description: "The headline.", Required: true},
				{Name: "subtitle", Type: TypeString, Description: "The line under it.", Default: "Made with framegate"},
				{Name: "backgroundFrom", Type: TypeColor, Description: "Gradient start, top-left.", Default: "#0f2027"},
				{Name: "backgroundTo", Type: TypeColor, Description: "Gradient end, bottom-right.", Default: "#2c5364"},
				{Name: "textColor", Type: TypeColor, Default: "#ffffff"},
				{Name: "duration", Type: TypeNumber, Description: "Seconds on screen (at least 1.5).", Default: 5.0},
			},
			Spec: json.RawMessage(`{
  "resolution": "hd",
  "scenes": [{
    "duration": "{{duration}}",
    "background": {"gradient": {"from": "{{backgroundFrom}}", "to": "{{backgroundTo}}", "direction": "diagonal"}},
    "elements": [
      {"type": "text", "text": "{{title}}", "fontSize": 96, "color": "{{textColor}}", "start": 0.3},
      {"type": "text", "text": "{{subtitle}}", "fontSize": 40, "color": "{{textColor}}", "position": "bottom", "start": 1}
    ]
  }]
}`),
		},
		{
			ID:          "tpl_product_promo",
			Name:        "Product promo",
			Description: "Ten seconds in four beats: name and tagline, product shot, price, call to action.",
			Category:    "marketing",
			Orientation: Landscape,
			Variables: []Variable{
				{Name: "productName", Type: TypeString, Required: true},
				{Name: "imageUrl", Type: TypeURL, Description: "Product photo (PNG, JPEG, WebP); shown contained in a 560 px square.", Required: true},
				{Name: "tagline", Type: TypeString, Default: "Made for people who ship"},
				{Name: "price", Type: TypeString, Default: "$49"},
				{Name: "priceNote", Type: TypeString, Default: "Launch price"},
				{Name: "cta", Type: TypeString, Description: "Call to action on the last beat.", Default: "Order today at example.com"},
				{Name: "brandColor", Type: TypeColor, Default: "#ff6b35"},
				{Name: "accentColor", Type: TypeColor, Default: "#1b1b3a"},
				{Name: "textColor", Type: TypeColor, Default: "#ffffff"},
			},
			Spec: json.RawMessage(`{
  "resolution": "hd",
  "scenes": [
    {
      "duration": 3.5,
      "background": {"gradient": {"from": "{{brandColor}}", "to": "{{accentColor}}", "direction": "diagonal"}},
      "elements": [
        {"type": "text", "text": "{{productName}}", "fontSize": 96, "color": "{{textColor}}", "start": 0.3},
        {"type": "text", "text": "{{tagline}}", "fontSize": 40, "color": "{{textColor}}", "position": "bottom", "start": 1}
      ],
      "transition": {"type": "fade", "duration": 0.5}
    },
    {
      "duration": 3,
      "background": {"color": "{{accentColor}}"},
      "elements": [
        {"type": "image", "url": "{{imageUrl}}", "fit": "contain", "width": 560, "height": 560, "position": "left"},
        {"type": "text", "text": "{{productName}}", "fontSize": 56, "color": "{{textColor}}", "position": "right", "start": 0.4}
      ],
      "transition": {"type": "slideleft", "duration": 0.5}
    },
    {
      "duration": 2.5,
      "background": {"color": "{{brandColor}}"},
      "elements": [
        {"type": "text", "text": "{{price}}", "fontSize": 160, "color": "{{textColor}}"},
        {"type": "text", "text": "{{priceNote}}", "fontSize": 40, "color": "{{textColor}}", "position": "bottom", "start": 0.3}
      ],
      "transition": {"type": "fade", "duration": 0.5}
    },
    {
      "duration": 2.5,
      "background": {"gradient": {"from": "{{accentColor}}", "to": "{{brandColor}}"}},
      "elements": [
        {"type": "text", "text": "{{cta}}", "fontSize": 56, "color": "{{textColor}}"}
      ]
    }
  ]
}`),
		},
		{
			ID:          "tpl_quote",
			Name:        "Quote",
			Description: "A quotation and its author on a square card for social feeds.",
			Category:    "social",
			Orientation: Square,
			Variables: []Variable{
				{Name: "quote", Type: TypeString, Required: true},
				{Name: "author", Type: TypeString, Default: "Unknown"},
				{Name: "background", Type: TypeColor, Default: "#264653"},
				{Name: "textColor", Type: TypeColor, Default: "#f4f1de"},
				{Name: "accentColor", Type: TypeColor, Default: "#e9c46a"},
				{Name: "duration", Type: TypeNumber, Description: "Seconds on screen (at least 1.5).", Default: 6.0},
			},
			Spec: json.RawMessage(`{
  "resolution": "square",
  "scenes": [{
    "duration": "{{duration}}",
    "background": {"color": "{{background}}"},
    "elements": [
      {"type": "text", "text": "“{{quote}}”", "fontSize": 60, "color": "{{textColor}}", "start": 0.3},
      {"type": "text", "text": "— {{author}}", "fontSize": 40, "color": "{{accentColor}}", "position": "bottom-right", "start": 1.2}
    ]
  }]
}`),
		},
		{
			ID:          "tpl_countdown",
			Name:        "Countdown",
			Description: "3, 2, 1 and a reveal: launches, live streams, event openers.",
			Category:    "events",
			Orientation: Landscape,
			Variables: []Variable{
				{Name: "title", Type: TypeString, Default: "Launching in"},
				{Name: "message", Type: TypeString, Default: "We're live!"},
				{Name: "background", Type: TypeColor, Default: "#111111"},
				{Name: "numberColor", Type: TypeColor, Default: "#ffd166"},
				{Name: "revealFrom", Type: TypeColor, Default: "#ef476f"},
				{Name: "revealTo", Type: TypeColor, Default: "#118ab2"},
				{Name: "textColor", Type: TypeColor, Default: "#ffffff"},
			},
			Spec: json.RawMessage(`{
  "resolution": "hd",
  "scenes": [
    {"duration": 1, "background": {"color": "{{background}}"}, "elements": [
      {"type": "text", "text": "{{title}}", "fontSize": 44, "color": "{{textColor}}", "position": "top"},
      {"type": "text", "text": "3", "fontSize": 320, "color": "{{numberColor}}"}
    ]},
    {"duration": 1, "background": {"color": "{{background}}"}, "elements": [
      {"type": "text", "text": "{{title}}", "fontSize": 44, "color": "{{textColor}}", "position": "top"},
      {"type": "text", "text": "2", "fontSize": 320, "color": "{{numberColor}}"}
    ]},
    {"duration": 1.5, "background": {"color": "{{background}}"}, "elements": [
      {"type": "text", "text": "{{title}}", "fontSize": 44, "color": "{{textColor}}", "position": "top"},
      {"type": "text", "text": "1", "fontSize": 320, "color": "{{numberColor}}"}
    ], "transition": {"type": "circleopen", "duration": 0.5}},
    {"duration": 2, "background": {"gradient": {"from": "{{revealFrom}}", "to": "{{revealTo}}", "direction": "horizontal"}}, "elements": [
      {"type": "text", "text": "{{message}}", "fontSize": 120, "color": "{{textColor}}"}
    ]}
  ]
}`),
		},
		{
			ID:          "tpl_vertical_story",
			Name:        "Vertical story",
			Description: "A 1080×1920 story in three slides: hook, message, call to action.",
			Category:    "social",
			Orientation: Portrait,
			Variables: []Variable{
				{Name: "headline", Type: TypeString, Required: true},
				{Name: "kicker", Type: TypeString, Description: "Small line above the headline.", Default: "NEW"},
				{Name: "body", Type: TypeString, Default: "Render videos from JSON with one API call."},
				{Name: "cta", Type: TypeString, Default: "Swipe up"},
				{Name: "handle", Type: TypeString, Default: "@framegate"},
				{Name: "colorFrom", Type: TypeColor, Default: "#7209b7"},
				{Name: "colorTo", Type: TypeColor, Default: "#f72585"},
				{Name: "bodyBackground", Type: TypeColor, Default: "#14213d"},
				{Name: "textColor", Type: TypeColor, Default: "#ffffff"},
			},
			Spec: json.RawMessage(`{
  "resolution": "vertical",
  "scenes": [
    {
      "duration": 3.5,
      "background": {"gradient": {"from": "{{colorFrom}}", "to": "{{colorTo}}"}},
      "elements": [
        {"type": "text", "text": "{{kicker}}", "fontSize": 48, "color": "{{textColor}}", "position": "top", "start": 0.2},
        {"type": "text", "text": "{{headline}}", "fontSize": 96, "color": "{{textColor}}", "start": 0.4}
      ],
      "transition": {"type": "slideup", "duration": 0.5}
    },
    {
      "duration": 3,
      "background": {"color": "{{bodyBackground}}"},
      "elements": [
        {"type": "text", "text": "{{body}}", "fontSize": 64, "color": "{{textColor}}"}
      ],
      "transition": {"type": "slideup", "duration": 0.5}
    },
    {
      "duration": 3,
      "background": {"gradient": {"from": "{{colorTo}}", "to": "{{colorFrom}}"}},
      "elements": [
        {"type": "text", "text": "{{cta}}", "fontSize": 88, "color": "{{textColor}}"},
        {"type": "text", "text": "{{handle}}", "fontSize": 44, "color": "{{textColor}}", "position": "bottom", "start": 0.5}
      ]
    }
  ]
}`),
		},
	}
}

// Find returns the built-in template with id.
func Find(id string) (Template, bool) {
	for _, t := range BuiltIn() {
		if t.ID == id {
			return t, true
		}
	}
	return Template{}, false
}
