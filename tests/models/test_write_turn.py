"""begin_writing: on SQLite the threads of one process take turns to write, and a turn
ends with its transaction however that ends; on PostgreSQL nobody waits here."""

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ep.database import begin_writing
from ep.extensions import db
from ep.models import Person


def begun_in_thread(engine, started: threading.Event, done: threading.Event):
    """A thread that begins writing on a session of its own, then commits and says so."""

    def write():
        with Session(engine) as session:
            started.set()
            begin_writing(session)
            session.execute(select(Person.id)).all()
            session.commit()
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    return thread


@pytest.mark.parametrize("end", ["commit", "rollback", "close"])
def test_another_thread_writes_once_the_turn_ends_however_it_ends(app, end):
    with app.app_context():
        engine = db.engine
        session = Session(engine)
        begin_writing(session)
        started, done = threading.Event(), threading.Event()
        thread = begun_in_thread(engine, started, done)
        assert started.wait(5)
        # on SQLite the other thread waits for this one's turn; elsewhere it goes on
        waits = engine.dialect.name == "sqlite"
        assert done.wait(0.5) is not waits
        getattr(session, end)()
        assert done.wait(10)
        thread.join(10)
        session.close()


def test_a_turn_taken_twice_by_one_thread_ends_with_each_session(app):
    with app.app_context():
        engine = db.engine
        first, second = Session(engine), Session(engine)
        begin_writing(first)
        first.commit()
        begin_writing(second)  # the same thread again: no wait on its own earlier turn
        second.rollback()
        started, done = threading.Event(), threading.Event()
        thread = begun_in_thread(engine, started, done)
        assert done.wait(10), "a turn was not given back"
        thread.join(10)
        first.close()
        second.close()
