"""ROS_DOMAIN_IDs for tests are held while a test runs: two test runs on one machine at the same
time (whose nodes discover each other on loopback) never share a domain, even for the same test,
and a test does not start on the domain the test before it has just left."""

import subprocess
import sys

from officina.ros.testing import domain_id_for, release_domain_ids

_OTHER_RUN = ("import sys; from officina.ros.testing import domain_id_for; "
              "print(domain_id_for(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))")


def _in_another_process(name: str, lo: int, hi: int) -> int:
    out = subprocess.run([sys.executable, "-c", _OTHER_RUN, name, str(lo), str(hi)], capture_output=True, text=True,
                         timeout=60, check=True)
    return int(out.stdout)


def test_a_domain_held_by_one_run_is_not_given_to_another_run_of_the_same_test():
    name = "test_the_same_test_in_two_checkouts"
    try:
        mine = domain_id_for(name)
        assert domain_id_for(name) == mine  # asked again in the same test: the same id
        assert 60 <= mine <= 99
        assert _in_another_process(name, 60, 99) not in (mine, None)
    finally:
        release_domain_ids()


def test_the_next_test_starts_on_another_domain_than_the_one_just_left():
    try:
        first = domain_id_for("a_test", 110, 112)
    finally:
        release_domain_ids()
    try:
        second = domain_id_for("the_next_test", 110, 112)
    finally:
        release_domain_ids()
    try:
        third = domain_id_for("a_test", 110, 112)  # the same name again: the one left longest ago
    finally:
        release_domain_ids()
    assert len({first, second, third}) == 3, (first, second, third)


def test_two_names_in_one_test_get_two_domains():
    try:
        assert domain_id_for("first", 10, 10) == 10
        assert domain_id_for("second", 10, 11) == 11
    finally:
        release_domain_ids()
