"""ROS_DOMAIN_IDs for tests are held while a test runs: two test runs on one machine at the same
time (whose nodes discover each other on loopback) never share a domain, even for the same test."""

import subprocess
import sys

from officina.ros.testing import domain_id_for, release_domain_ids

_OTHER_RUN = ("import sys; from officina.ros.testing import domain_id_for; "
              "print(domain_id_for(sys.argv[1]))")


def _in_another_process(name: str) -> int:
    out = subprocess.run([sys.executable, "-c", _OTHER_RUN, name], capture_output=True, text=True, timeout=60,
                         check=True)
    return int(out.stdout)


def test_a_domain_held_by_one_run_is_not_given_to_another_run_of_the_same_test():
    name = "test_the_same_test_in_two_checkouts"
    try:
        mine = domain_id_for(name)
        assert domain_id_for(name) == mine  # asked again in the same test: the same id
        assert 60 <= mine <= 99
        other = _in_another_process(name)
        assert other != mine and 60 <= other <= 99
    finally:
        release_domain_ids()
    assert _in_another_process(name) == mine  # given back: the other run gets the test's usual id


def test_two_names_in_one_test_get_two_domains():
    try:
        assert domain_id_for("first", 10, 10) == 10
        assert domain_id_for("second", 10, 11) == 11
    finally:
        release_domain_ids()
