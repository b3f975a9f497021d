"""The distributor's information platform (SEC, Anexo 1 of the distributed generation technical standard):
public network information, a page per customer, a richer page for customers with generation (EG), and
the SEC's auditor profile, served from the head-end's own database."""
