package motion

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"os"
	"strconv"
)

// LoadMask reads a mask image: a PGM (binary P5 or plain P2, maxval up to
// 255) as motion uses, or a PNG (converted to gray). Black pixels are
// excluded from detection.
func LoadMask(path string) (*image.Gray, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mask: %w", err)
	}
	switch {
	case bytes.HasPrefix(b, []byte("P5")), bytes.HasPrefix(b, []byte("P2")):
		g, err := decodePGM(b)
		if err != nil {
			return nil, fmt.Errorf("mask %s: %w", path, err)
		}
		return g, nil
	case bytes.HasPrefix(b, []byte("\x89PNG")):
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("mask %s: %w", path, err)
		}
		g := image.NewGray(image.Rect(0, 0, img.Bounds().Dx(), img.Bounds().Dy()))
		draw.Draw(g, g.Bounds(), img, img.Bounds().Min, draw.Src)
		return g, nil
	}
	return nil, fmt.Errorf("mask %s: not a PGM (P5/P2) or PNG file", path)
}

// decodePGM parses a PGM image (P5 binary or P2 plain, maxval <= 255).
func decodePGM(b []byte) (*image.Gray, error) {
	r := bufio.NewReader(bytes.NewReader(b))
	magic, err := pgmToken(r)
	if err != nil {
		return nil, err
	}
	var vals [3]int
	for i := range vals {
		tok, err := pgmToken(r)
		if err != nil {
			return nil, err
		}
		if vals[i], err = strconv.Atoi(tok); err != nil || vals[i] <= 0 {
			return nil, fmt.Errorf("pgm header: bad number %q", tok)
		}
	}
	w, h, maxval := vals[0], vals[1], vals[2]
	if w > 8192 || h > 8192 || maxval > 255 {
		return nil, fmt.Errorf("pgm: %dx%d maxval %d unsupported", w, h, maxval)
	}
	g := image.NewGray(image.Rect(0, 0, w, h))
	scale := func(v int) uint8 { return uint8(min(v, maxval) * 255 / maxval) }
	switch magic {
	case "P5":
		// Exactly one whitespace byte follows maxval (consumed by pgmToken).
		if _, err := io.ReadFull(r, g.Pix); err != nil {
			return nil, fmt.Errorf("pgm data: %w", err)
		}
		if maxval != 255 {
			for i, v := range g.Pix {
				g.Pix[i] = scale(int(v))
			}
		}
	case "P2":
		for i := range g.Pix {
			tok, err := pgmToken(r)
			if err != nil {
				return nil, fmt.Errorf("pgm data: %w", err)
			}
			v, err := strconv.Atoi(tok)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("pgm data: bad value %q", tok)
			}
			g.Pix[i] = scale(v)
		}
	default:
		return nil, fmt.Errorf("pgm: magic %q", magic)
	}
	return g, nil
}

// pgmToken reads one whitespace-separated token, skipping # comments, and
// consumes the single whitespace byte after it.
func pgmToken(r *bufio.Reader) (string, error) {
	var tok []byte
	for {
		c, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && len(tok) > 0 {
				return string(tok), nil
			}
			return "", fmt.Errorf("pgm header: %w", err)
		}
		switch {
		case c == '#' && len(tok) == 0:
			if _, err := r.ReadBytes('\n'); err != nil {
				return "", fmt.Errorf("pgm header: %w", err)
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if len(tok) > 0 {
				return string(tok), nil
			}
		default:
			tok = append(tok, c)
		}
	}
}
