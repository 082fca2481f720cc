-- What the delivery client noticed beyond the status and body: a body kept as
-- received because it could not be decoded, or a request sent twice because a
-- kept-alive connection closed before any answer.
ALTER TABLE attempt ADD COLUMN note TEXT;
