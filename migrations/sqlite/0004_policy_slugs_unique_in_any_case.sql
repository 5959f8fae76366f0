-- Slugs are unique case-insensitively, like names (slugs are ASCII, so lower() is exact).
CREATE UNIQUE INDEX policies_slug_key ON policies (lower(slug));
