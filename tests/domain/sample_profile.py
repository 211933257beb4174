"""A realistic business profile for tests: a Spanish-speaking dental clinic in Mexico City."""

CLINIC_PROFILE = {
    "name": "Clínica Dental Sonrisa",
    "tone": "cálido y profesional",
    "timezone": "America/Mexico_City",
    "language": "es",
    "services": [
        {
            "name": "Limpieza dental",
            "price": 800,
            "currency": "MXN",
            "duration_minutes": 45,
            "aliases": ["limpieza", "cleaning"],
            "description": "Limpieza con ultrasonido y pulido.",
        },
        {
            "name": "Blanqueamiento dental",
            "price": 3500,
            "currency": "MXN",
            "duration_minutes": 60,
            "aliases": ["blanqueamiento", "whitening"],
        },
        {
            "name": "Resina",
            "price": "1250.50",
            "currency": "MXN",
            "duration_minutes": 40,
            "aliases": ["empaste", "filling"],
        },
        {
            "name": "Ortodoncia",
            "price": None,
            "currency": "MXN",
            "duration_minutes": 30,
            "aliases": ["brackets", "braces"],
        },
    ],
    "hours": {
        "mon": ["09:00-19:00"],
        "tue": ["09:00-19:00"],
        "wed": ["09:00-19:00"],
        "thu": ["09:00-19:00"],
        "fri": ["09:00-19:00"],
        "sat": ["09:00-14:00"],
    },
    "address": "Av. Insurgentes Sur 1234, Col. Del Valle, Ciudad de México",
    "phone": "+52 55 1234 5678",
    "faq": [
        {
            "question": "¿Aceptan tarjeta de crédito?",
            "answer": "Sí, aceptamos tarjetas de crédito y débito Visa y Mastercard.",
        },
        {
            "question": "¿Tienen estacionamiento?",
            "answer": "Sí, hay estacionamiento gratuito frente a la clínica.",
        },
        {
            "question": "¿Atienden a niños?",
            "answer": "Sí, atendemos a niños a partir de 3 años.",
        },
    ],
    "policies": [
        "Las cancelaciones deben hacerse con al menos 24 horas de anticipación.",
        "El pago se realiza al terminar la consulta.",
    ],
}
