"""Line counts for the verdict come from code, not comments, and find the right function."""

import pytest

from analyzer.definitions.source_lines import count_code_lines, function_code_lines, ops_member

SOURCE = """/*
 * A header comment of several lines
 * that must not count.
 */
static int helper(int x)
{
	// a comment line
	return x + 1; /* trailing comment */
}

int grow(int a,
	 int b)
{
	if (a) {
		return helper(b);
	}

	return 0;
}

const struct vmm_backend_ops ops = {
	.resize = grow,
};
"""


def test_comments_blank_lines_and_lone_braces_do_not_count(tmp_path):
    path = tmp_path / "a.c"
    path.write_text(SOURCE)
    # helper: signature, return; grow: 2 signature lines, if, return, return; ops: 2 lines
    assert count_code_lines([path]) == 2 + 5 + 2


def test_a_function_is_counted_from_signature_to_closing_brace(tmp_path):
    path = tmp_path / "a.c"
    path.write_text(SOURCE)
    assert function_code_lines(path, "grow") == 5
    assert function_code_lines(path, "helper") == 2
    assert ops_member(path, "resize") == "grow"
    with pytest.raises(LookupError):
        function_code_lines(path, "shrink")
    with pytest.raises(LookupError):
        ops_member(path, "release")
