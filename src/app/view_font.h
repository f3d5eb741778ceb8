// The viewer overlay's 5x7 bitmap font (src/app/view_font.c).
#ifndef VKD_APP_VIEW_FONT_H
#define VKD_APP_VIEW_FONT_H

#include <stdbool.h>
#include <stdint.h>

#define VKD_VIEW_FONT_GLYPHS 95  // ASCII 32..126; anything else draws as a blank
#define VKD_VIEW_FONT_COLS 5
#define VKD_VIEW_FONT_ROWS 7

// Glyph g (= char - 32) as two words: row r's five bits (bit c = column c, left to right) in
// byte r % 4 of word r / 4. This is the table the overlay kernel reads.
void vkd_view_font_pack(uint32_t out[2 * VKD_VIEW_FONT_GLYPHS]);
// Whether the glyph of ch has ink at (col, row); false outside the glyph or the table.
bool vkd_view_font_ink(char ch, int col, int row);

#endif
