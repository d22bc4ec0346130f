from frwatch.store.shapes import bound_list, padded


def test_padded_lists_take_a_power_of_two_length_and_keep_their_values():
    for size, shape in [(0, 0), (1, 1), (2, 2), (3, 4), (5, 8), (8, 8), (9, 16), (100, 128)]:
        values = [f"id_{n}" for n in range(size)]
        out = padded(values)
        assert len(out) == shape
        assert out[:size] == values and set(out) == set(values)
        assert all(value == values[-1] for value in out[size:])


def test_lists_are_bound_whole_on_postgresql_and_padded_elsewhere():
    values = ["a", "b", "c"]
    assert bound_list(values, "postgresql") == values
    assert bound_list(values, "sqlite") == padded(values) == ["a", "b", "c", "c"]
